"""The PN532 RFID reader driver against the simulated PN532, over the SMBus double's socket."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.drivers.i2c import I2cBus
from runtime.drivers.pn532 import (
    ACK_FRAME,
    FrameError,
    Pn532,
    decode_frame,
    encode_frame,
    is_ack,
    parse_target_uid,
)
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.sim.pn532_chip import ACK, frame
from tests.runtime.drivers.i2c_harness import charger_board, run_local, run_on_socket


def reader(bus: I2cBus) -> Pn532:
    """A reader with short timeouts, so the tests of a silent reader stay fast."""
    return Pn532(bus, ack_timeout_s=0.05, response_timeout_s=0.05, poll_interval_s=0.001)


async def probe(bus: I2cBus) -> str:
    return await reader(bus).probe()


async def poll(bus: I2cBus) -> str | None:
    return await reader(bus).poll_card()


def test_probe_reports_the_firmware_of_a_pn532(tmp_path: Path) -> None:
    board = charger_board()
    assert run_on_socket(tmp_path, board, probe) == "PN532 firmware 1.6 (support 0x07)"
    assert board.rfid.sam_mode == 1  # normal mode: the reader can see cards


def test_probe_of_a_missing_reader_names_bus_and_address(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.answering = False
    with pytest.raises(DeviceTimeout, match=r"PN532 RFID reader at i2c-1 0x24"):
        run_on_socket(tmp_path, board, probe)


def test_probe_at_another_address_names_that_address(tmp_path: Path) -> None:
    board = charger_board(rfid_reader=0x28)
    board.double.detach(1, 0x28)

    async def scenario(bus: I2cBus) -> str:
        return await Pn532(bus, address=0x28, ack_timeout_s=0.05).probe()

    with pytest.raises(DeviceTimeout, match=r"i2c-1 0x28"):
        run_on_socket(tmp_path, board, scenario)


def test_probe_rejects_a_chip_that_is_not_a_pn532(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.firmware = (0x33, 1, 6, 0x07)  # a PN533
    with pytest.raises(DeviceGarbage, match="IC 0x33 is not a PN532"):
        run_on_socket(tmp_path, board, probe)


def test_empty_field_reports_no_card(tmp_path: Path) -> None:
    assert run_on_socket(tmp_path, charger_board(), poll) is None


@pytest.mark.parametrize("uid", ["DEADBEEF", "04A1B2C3D4E5F6", "04112233445566778899"])
def test_card_presented_reports_its_uid_in_upper_case_hex(tmp_path: Path, uid: str) -> None:
    board = charger_board()
    board.rfid.present_card(uid.lower())
    assert run_on_socket(tmp_path, board, poll) == uid


def test_card_held_in_the_field_is_reported_on_every_poll_until_removed(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> list[str | None]:
        rfid = reader(bus)
        seen = [await rfid.poll_card()]
        board.rfid.present_card("04A1B2C3D4E5F6")
        seen += [await rfid.poll_card() for _ in range(3)]
        board.rfid.remove_card()
        seen.append(await rfid.poll_card())
        return seen

    assert run_on_socket(tmp_path, board, scenario) == [None, *["04A1B2C3D4E5F6"] * 3, None]


def test_poll_without_probe_configures_the_reader_first(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.present_card("DEADBEEF")
    assert run_on_socket(tmp_path, board, poll) == "DEADBEEF"
    assert board.rfid.commands == [0x14, 0x32, 0x4A]


def test_a_reader_that_lost_its_configuration_recovers_on_the_next_poll(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.present_card("DEADBEEF")

    async def scenario(bus: I2cBus) -> str | None:
        rfid = reader(bus)
        await rfid.probe()
        board.rfid.sam_mode = None  # the reader reset: it answers InListPassiveTarget with an error
        with pytest.raises(DeviceGarbage, match="syntax error"):
            await rfid.poll_card()
        return await rfid.poll_card()

    assert run_on_socket(tmp_path, board, scenario) == "DEADBEEF"


def corrupt(index: int, value: int) -> Callable[[bytes], bytes]:
    """Replace one byte of every response frame (ACKs pass untouched)."""

    def tamper(out: bytes) -> bytes:
        return out if out == ACK else out[:index] + bytes([value]) + out[index + 1 :]

    return tamper


def reframe(body: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Rewrite TFI + data of every response, with valid checksums around the new body."""

    def tamper(out: bytes) -> bytes:
        return out if out == ACK else frame(body(out[5 : 5 + out[3]]))

    return tamper


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (corrupt(4, 0x00), "length checksum wrong"),
        (lambda f: f if f == ACK else f[:-2] + bytes([f[-2] ^ 0xFF, 0]), "data checksum wrong"),
        (reframe(lambda body: b"\xd4" + body[1:]), "TFI 0xd4 instead of D5"),
        (reframe(lambda body: body[:1] + b"\x4d" + body[2:]), "response code 0x4d"),
        (reframe(lambda body: body[:1]), "response code nothing"),
        (lambda f: f if f == ACK else f[:7], "data checksum wrong"),
        (reframe(lambda body: body * 20), "frame cut short"),
        (lambda f: f if f == ACK else bytes(len(f)), "no start code"),
        (lambda f: f if f == ACK else bytes.fromhex("0000ff01ff7f8100"), "syntax error"),
        (lambda f: f if f == ACK else f[:-1] + b"\x55", "postamble"),
        (lambda f: f if f == ACK else bytes.fromhex("0000ffffff0100fe"), "extended frame"),
    ],
    ids=[
        "bad-LCS",
        "bad-DCS",
        "wrong-TFI",
        "wrong-code",
        "no-code",
        "truncated",
        "longer-than-read",
        "zeros",
        "error-frame",
        "postamble",
        "extended",
    ],
)
def test_corrupted_response_is_device_garbage(
    tmp_path: Path, tamper: Callable[[bytes], bytes], problem: str
) -> None:
    board = charger_board()
    board.rfid.present_card("DEADBEEF")
    board.rfid.tamper = tamper
    with pytest.raises(DeviceGarbage, match=problem) as raised:
        run_on_socket(tmp_path, board, probe)
    assert raised.value.where == "i2c-1 0x24"


def test_a_nack_instead_of_an_ack_is_device_garbage(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.tamper = lambda f: bytes.fromhex("0000ffff0000") if f == ACK else f
    with pytest.raises(DeviceGarbage, match="expected an ACK"):
        run_on_socket(tmp_path, board, probe)


def test_a_reader_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.never_ready = True
    with pytest.raises(DeviceTimeout, match=r"i2c-1 0x24: no ACK to command 0x14 within"):
        run_on_socket(tmp_path, board, poll)


def test_a_reader_that_acks_but_never_answers_times_out_and_is_aborted(tmp_path: Path) -> None:
    board = charger_board()
    board.rfid.hang_after_ack = True
    with pytest.raises(DeviceTimeout, match=r"no answer to command 0x02 within 0\.05 s"):
        run_on_socket(tmp_path, board, probe)
    assert board.rfid.aborts == 1


def test_a_uid_of_impossible_length_is_device_garbage() -> None:
    with pytest.raises(FrameError, match="UID length 5"):
        parse_target_uid(bytes([1, 1, 0x00, 0x04, 0x08, 5, 1, 2, 3, 4, 5]))
    with pytest.raises(FrameError, match="UID cut short"):
        parse_target_uid(bytes([1, 1, 0x00, 0x44, 0x08, 7, 1, 2, 3]))
    with pytest.raises(FrameError, match="2 targets"):
        parse_target_uid(bytes([2]))


@given(st.integers(0, 0xFF), st.binary(max_size=254), st.integers(0, 3), st.binary(max_size=8))
def test_frames_round_trip_through_the_codec(
    tfi: int, data: bytes, extra_preamble: int, trailer: bytes
) -> None:
    raw = b"\x00" * extra_preamble + encode_frame(tfi, data) + trailer
    assert decode_frame(raw) == (tfi, data)
    assert not is_ack(raw)


def test_the_ack_frame_is_recognised_and_is_not_a_response() -> None:
    assert is_ack(ACK_FRAME)
    with pytest.raises(FrameError, match="ACK frame"):
        decode_frame(ACK_FRAME)


@given(st.binary(max_size=80))
def test_arbitrary_bytes_never_decode_to_anything_but_a_frame_or_frame_error(raw: bytes) -> None:
    try:
        tfi, data = decode_frame(raw)
    except FrameError:
        return
    assert encode_frame(tfi, data) in b"\x00" + raw


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=70), st.sampled_from(["probe", "poll"]))
def test_arbitrary_reader_responses_only_raise_device_errors(raw: bytes, action: str) -> None:
    board = charger_board()
    board.rfid.present_card("04A1B2C3D4E5F6")
    board.rfid.tamper = lambda frame: frame if frame == ACK else raw
    with contextlib.suppress(DeviceGarbage, DeviceTimeout):
        run_local(board, probe if action == "probe" else poll)
