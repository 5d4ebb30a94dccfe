"""The PCA9634 LED and buzzer driver against the simulated PCA9634, over the double's socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.drivers.i2c import I2cBus
from runtime.drivers.pca9634 import Pca9634
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.hardware.types import Rgbw
from runtime.sim.lis3dh_chip import Lis3dhChip
from runtime.sim.pca9634_chip import RESET
from tests.runtime.drivers.i2c_harness import charger_board, run_on_socket

# The manual's LED colours (5.1) as this board mixes them.
MANUAL_COLOURS = {
    "white": Rgbw(0, 0, 0, 255),
    "green": Rgbw(0, 255, 0),
    "yellow": Rgbw(255, 180, 0),
    "light blue": Rgbw(0, 160, 255),
    "blue": Rgbw(0, 0, 255),
    "red": Rgbw(255, 0, 0),
    "off": Rgbw(0, 0, 0),
}


async def probe(bus: I2cBus) -> None:
    await Pca9634(bus).probe()


def test_probe_wakes_the_chip_and_puts_every_channel_on_pwm(tmp_path: Path) -> None:
    board = charger_board()
    run_on_socket(tmp_path, board, probe)
    assert board.led.registers[0x00] & 0x10 == 0  # SLEEP cleared
    assert (board.led.registers[0x0C], board.led.registers[0x0D]) == (0xAA, 0xAA)


def test_probe_of_a_missing_led_driver_names_bus_and_address(tmp_path: Path) -> None:
    board = charger_board()
    board.led.answering = False
    with pytest.raises(DeviceTimeout, match=r"PCA9634 LED driver at i2c-1 0x30"):
        run_on_socket(tmp_path, board, probe)


def test_probe_rejects_a_chip_whose_mode_registers_do_not_read_back(tmp_path: Path) -> None:
    board = charger_board()
    board.double.detach(1, 0x30)
    board.double.attach(1, 0x30, Lis3dhChip())  # another chip strapped to the LED address
    with pytest.raises(DeviceGarbage, match="MODE1/MODE2 read back") as raised:
        run_on_socket(tmp_path, board, probe)
    assert raised.value.where == "i2c-1 0x30"


@pytest.mark.parametrize("name", MANUAL_COLOURS)
def test_each_manual_colour_lands_in_the_pwm_registers_and_decodes_back(
    tmp_path: Path, name: str
) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> None:
        led = Pca9634(bus)
        await led.probe()
        await led.show(Rgbw(1, 2, 3, 4))
        await led.show(MANUAL_COLOURS[name])

    run_on_socket(tmp_path, board, scenario)
    colour = MANUAL_COLOURS[name]
    assert bytes(board.led.registers[0x02:0x06]) == bytes(
        [colour.red, colour.green, colour.blue, colour.white]
    )
    assert board.led.colour() == colour


def test_a_colour_shown_before_probe_sets_the_chip_up_first(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> None:
        await Pca9634(bus).show(Rgbw(0, 255, 0))

    run_on_socket(tmp_path, board, scenario)
    assert board.led.colour() == Rgbw(0, 255, 0)


def test_a_led_driver_that_reset_is_set_up_again_after_the_failed_write(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> Rgbw:
        led = Pca9634(bus)
        await led.show(Rgbw(255, 0, 0))
        board.led.answering = False  # brown-out: gone for a moment, back with reset registers
        with pytest.raises(DeviceTimeout, match="i2c-1 0x30"):
            await led.show(Rgbw(0, 0, 255))
        board.led.answering = True
        board.led.registers[:] = RESET
        await led.show(Rgbw(0, 0, 255))
        return board.led.colour()

    assert run_on_socket(tmp_path, board, scenario) == Rgbw(0, 0, 255)


def test_colour_levels_outside_0_to_255_are_refused(tmp_path: Path) -> None:
    async def scenario(bus: I2cBus) -> None:
        await Pca9634(bus).show(Rgbw(256, 0, 0))

    with pytest.raises(ValueError, match=r"0\.\.255"):
        run_on_socket(tmp_path, charger_board(), scenario)


def test_a_beep_sounds_at_half_duty_for_its_duration_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> tuple[bool, int, int]:
        buzzer = Pca9634(bus)
        await buzzer.probe()
        beep = asyncio.create_task(buzzer.beep(0.2))
        for _ in range(2000):  # the loop keeps running while the buzzer sounds
            if board.led.buzzer_on:
                break
            await asyncio.sleep(0.001)
        sounding, level = board.led.buzzer_on, board.led.level(4)
        await beep
        return sounding, level, board.led.beeps

    assert run_on_socket(tmp_path, board, scenario) == (True, 128, 1)
    assert not board.led.buzzer_on
    assert board.led.colour() == Rgbw(0, 0, 0)  # the LED channels are untouched


def test_every_beep_is_counted_and_the_buzzer_ends_off(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> None:
        buzzer = Pca9634(bus)
        await buzzer.probe()
        await asyncio.gather(*(buzzer.beep(0.001) for _ in range(3)))

    run_on_socket(tmp_path, board, scenario)
    assert (board.led.beeps, board.led.buzzer_on) == (3, False)


def test_a_cancelled_beep_still_turns_the_buzzer_off(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> None:
        buzzer = Pca9634(bus)
        await buzzer.probe()
        beep = asyncio.create_task(buzzer.beep(30.0))
        for _ in range(2000):
            if board.led.buzzer_on:
                break
            await asyncio.sleep(0.001)
        beep.cancel()
        with pytest.raises(asyncio.CancelledError):
            await beep

    run_on_socket(tmp_path, board, scenario)
    assert (board.led.beeps, board.led.buzzer_on) == (1, False)


def test_the_buzzer_channel_comes_from_the_constructor(tmp_path: Path) -> None:
    board = charger_board(buzzer_channel=6)

    async def scenario(bus: I2cBus) -> int:
        buzzer = Pca9634(bus, buzzer_channel=6)
        await buzzer.probe()
        beep = asyncio.create_task(buzzer.beep(0.2))
        for _ in range(2000):
            if board.led.buzzer_on:
                break
            await asyncio.sleep(0.001)
        level = board.led.registers[0x02 + 6]
        await beep
        return level

    assert run_on_socket(tmp_path, board, scenario) == 128
    assert board.led.beeps == 1
    assert board.led.registers[0x02 + 4] == 0


@pytest.mark.parametrize("channel", [0, 3, 8])
def test_the_buzzer_cannot_share_an_led_channel_or_leave_the_chip(channel: int) -> None:
    board = charger_board()
    with pytest.raises(ValueError, match="buzzer channel"):
        Pca9634(board.local_bus(), buzzer_channel=channel)
