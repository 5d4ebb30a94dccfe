"""The simulated chips behave as their data sheets say, independently of the drivers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.drivers.lis3dh import raw_to_g
from runtime.hardware.types import Acceleration, Rgbw
from runtime.sim.lis3dh_chip import Lis3dhChip
from runtime.sim.pca9634_chip import Pca9634Chip
from runtime.sim.pn532_chip import ACK, Pn532Chip, frame

# --- PCA9634 --------------------------------------------------------------------------------


def test_pca9634_powers_up_asleep_with_every_output_off() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([0x82, 255, 255, 255, 255]))
    assert chip.colour() == Rgbw(0, 0, 0, 0)
    assert bytes(chip.registers[0x02:0x06]) == b"\xff" * 4  # stored, not shown


def test_pca9634_mode1_shows_the_control_registers_auto_increment_bits() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([0x00, 0xE1]))  # the AI bits of MODE1 are read-only
    chip.write(bytes([0x80]))
    assert chip.read(2) == bytes([0x81, 0x05])
    chip.write(bytes([0x00]))
    assert chip.read(1) == b"\x01"


def test_pca9634_brightness_auto_increment_rolls_over_to_pwm0() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([0xA0 | 0x08, 1, 2, 3]))  # AI = 101 from PWM6: PWM6, PWM7, then PWM0
    assert bytes(chip.registers[0x02:0x0A]) == bytes([3, 0, 0, 0, 0, 0, 1, 2])


def test_pca9634_without_auto_increment_writes_one_register_over_and_over() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([0x02, 1, 2, 3]))
    assert bytes(chip.registers[0x02:0x05]) == bytes([3, 0, 0])


def test_pca9634_ledout_modes_decide_the_colour() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([0x80, 0x01, 0x05, 10, 20, 30, 40, 0, 0, 0, 0, 0x80, 0x00, 0b11100100]))
    # LED0 off, LED1 fully on, LED2 PWM, LED3 PWM with group dimming at 128/256.
    assert chip.colour() == Rgbw(0, 255, 30, 20)
    chip.write(bytes([0x00, 0x11]))  # back to sleep
    assert chip.colour() == Rgbw(0, 0, 0, 0)


def test_pca9634_counts_a_beep_each_time_the_buzzer_channel_switches_on() -> None:
    chip = Pca9634Chip(buzzer_channel=5)
    chip.write(bytes([0x80, 0x01, 0x05]))
    chip.write(bytes([0x8D, 0xAA]))
    for _ in range(3):
        chip.write(bytes([0x07, 128]))
        chip.write(bytes([0x07, 200]))  # louder is not another beep
        assert chip.buzzer_on
        chip.write(bytes([0x07, 0]))
    assert (chip.beeps, chip.buzzer_on) == (3, False)


# --- LIS3DH ----------------------------------------------------------------------------------


def lis3dh(ctrl_reg1: int, ctrl_reg4: int) -> Lis3dhChip:
    chip = Lis3dhChip()
    chip.write(bytes([0x20, ctrl_reg1]))
    chip.write(bytes([0x23, ctrl_reg4]))
    return chip


def read_x(chip: Lis3dhChip) -> int:
    chip.write(bytes([0xA8]))
    low, high = chip.read(2)
    return low | high << 8


def test_lis3dh_answers_who_am_i_and_ignores_writes_to_it() -> None:
    chip = Lis3dhChip()
    chip.write(bytes([0x0F, 0x00]))
    chip.write(bytes([0x0F]))
    assert chip.read(1) == b"\x33"


def test_lis3dh_holds_its_outputs_while_powered_down() -> None:
    chip = Lis3dhChip()
    chip.bump(10.0)
    assert read_x(chip) == 0 and chip.samples_taken == 0


@pytest.mark.parametrize(
    ("ctrl_reg1", "ctrl_reg4", "expected"),
    [
        (0x57, 0xB8, 0x0530),  # HR ±16 g: 1 g / 12 mg = 83 counts, 12-bit left-justified
        (0x57, 0x88, 0x3E80),  # HR ±2 g: 1000 counts
        (0x57, 0xB0, 0x0540),  # normal ±16 g: 1 g / 48 mg = 21 counts, 10-bit
        (0x5F, 0xB0, 0x0500),  # low power ±16 g: 1 g / 192 mg = 5 counts, 8-bit
    ],
)
def test_lis3dh_encodes_per_mode_and_full_scale(
    ctrl_reg1: int, ctrl_reg4: int, expected: int
) -> None:
    chip = lis3dh(ctrl_reg1, ctrl_reg4)
    chip.acceleration = Acceleration(1.0, 0.0, 0.0)
    assert read_x(chip) == expected


def test_lis3dh_saturates_beyond_full_scale() -> None:
    chip = lis3dh(0x57, 0x88)  # ±2 g
    chip.bump(5.0)
    assert read_x(chip) == 0x7FF0


def test_lis3dh_big_endian_swaps_the_output_bytes() -> None:
    chip = lis3dh(0x57, 0xF8)
    chip.tilt(90)
    chip.write(bytes([0xA8]))
    assert chip.read(2) == bytes([0x05, 0x30])


@given(st.floats(-24.5, 24.5, allow_nan=False))
def test_lis3dh_output_decodes_back_within_one_digit(g: float) -> None:
    chip = lis3dh(0x57, 0xB8)
    chip.bump(g, samples=1)
    chip.acceleration = Acceleration(0.0, 0.0, 0.0)
    assert raw_to_g(read_x(chip)) == pytest.approx(g, abs=0.006 + 1e-9)


# --- PN532 -----------------------------------------------------------------------------------


def command(code: int, params: bytes = b"") -> bytes:
    return frame(bytes([0xD4, code, *params]))


def test_pn532_acks_a_command_then_answers_it_behind_the_status_byte() -> None:
    chip = Pn532Chip()
    assert chip.read(1) == b"\x00"
    chip.write(command(0x02))
    assert chip.read(1) == b"\x01"
    assert chip.read(7) == b"\x01" + ACK
    answer = chip.read(16)
    assert answer[1:14] == frame(bytes([0xD5, 0x03, 0x32, 1, 6, 7])) and answer[14:] == bytes(2)
    assert chip.read(1) == b"\x00"


def test_pn532_drops_a_frame_with_a_bad_checksum() -> None:
    chip = Pn532Chip()
    broken = bytearray(command(0x02))
    broken[-2] ^= 0x01
    chip.write(bytes(broken))
    assert chip.read(1) == b"\x00" and chip.commands == []


def test_pn532_resends_its_answer_on_nack_and_drops_it_on_ack() -> None:
    chip = Pn532Chip()
    chip.write(command(0x02))
    chip.read(7)
    first = chip.read(16)
    chip.write(bytes.fromhex("0000ffff0000"))
    assert chip.read(16) == first
    chip.write(command(0x02))
    chip.write(ACK)
    assert chip.read(1) == b"\x00" and chip.aborts == 1


def test_pn532_answers_an_unknown_command_with_the_error_frame() -> None:
    chip = Pn532Chip()
    chip.write(command(0x60))
    chip.read(7)
    assert chip.read(9)[1:] == bytes.fromhex("0000ff01ff7f8100")


def test_pn532_sees_no_card_before_sam_configuration() -> None:
    chip = Pn532Chip()
    chip.present_card("DEADBEEF")
    chip.write(command(0x4A, b"\x01\x00"))
    chip.read(7)
    assert chip.read(9)[1:] == bytes.fromhex("0000ff01ff7f8100")


def test_pn532_refuses_a_uid_of_impossible_length() -> None:
    with pytest.raises(ValueError, match="4, 7 or 10"):
        Pn532Chip().present_card("0102030405")
