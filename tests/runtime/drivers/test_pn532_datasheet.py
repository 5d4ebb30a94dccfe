"""The PN532 driver and the simulated PN532, each against the frames of NXP's UM0701-02.

tests/fixtures/datasheets/pn532.json records the manual's frames byte for byte: the driver must
send exactly the recorded command frames and read the recorded answers right; the simulated
chip must answer each recorded command with the recorded ACK and response frames.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.drivers.pn532 import Pn532
from runtime.sim.pn532_chip import Pn532Chip
from runtime.sim.smbus_double import I2cDouble
from tests.fixtures.datasheet import ScriptedPn532, load, octets

SHEET = load("pn532")
EXCHANGES: dict[str, dict[str, Any]] = SHEET["exchanges"]
ACK = octets(SHEET["ack"])
READY = octets(SHEET["status_ready"])
ADDRESS = 0x24
SET_UP = ("get_firmware_version", "sam_configuration_normal", "rf_configuration_max_retries")
CARD_CASES = (
    "in_list_passive_target_no_card",
    "in_list_passive_target_4_byte_uid",
    "in_list_passive_target_7_byte_uid",
)


def exchange(name: str) -> tuple[bytes, bytes]:
    return octets(EXCHANGES[name]["command"]), octets(EXCHANGES[name]["response"])


def test_the_fixture_frames_have_the_manual_checksums() -> None:
    for name, recorded in EXCHANGES.items():
        for frame in (octets(recorded["command"]), octets(recorded["response"])):
            length, lcs = frame[3], frame[4]
            body = frame[5 : 5 + length]
            assert frame[:3] == b"\x00\x00\xff", name
            assert (length + lcs) & 0xFF == 0, name
            assert (sum(body) + frame[5 + length]) & 0xFF == 0, name
            assert frame[6 + length :] == b"\x00", name


# ----- the driver ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CARD_CASES)
def test_driver_sends_the_manual_frames_and_reads_the_card_uid(case: str) -> None:
    script = [exchange(name) for name in (*SET_UP, case)]
    chip = ScriptedPn532(script, ACK, READY[0])
    double = I2cDouble()
    double.attach(1, ADDRESS, chip)
    reader = Pn532(double.bus(1), address=ADDRESS)

    async def scenario() -> tuple[str, str | None]:
        return await reader.probe(), await reader.poll_card()

    firmware, uid = asyncio.run(scenario())
    meaning = EXCHANGES["get_firmware_version"]["meaning"]
    assert f"{meaning['version']}.{meaning['revision']}" in firmware
    assert uid == EXCHANGES[case]["uid"]
    assert chip.written == [command for command, _ in script]
    assert chip.script == []


# ----- the simulated chip ----------------------------------------------------------------------
def answers(chip: Pn532Chip, command: bytes, response_length: int) -> tuple[bytes, bytes, bytes]:
    """Write a frame; then the status byte, status + ACK and status + response, as a host reads."""
    chip.write(command)
    status = chip.read(1)
    ack = chip.read(1 + len(ACK))
    return status, ack, chip.read(1 + response_length)


@pytest.mark.parametrize("case", CARD_CASES)
def test_simulator_answers_the_manual_frames_with_the_manual_frames(case: str) -> None:
    chip = Pn532Chip()
    uid = EXCHANGES[case]["uid"]
    if uid is not None:
        chip.present_card(uid)
    for name in (*SET_UP, case):
        command, response = exchange(name)
        status, ack, frame = answers(chip, command, len(response))
        assert status == READY, name
        assert ack == READY + ACK, name
        assert frame == READY + response, name


def test_simulator_answers_an_unknown_command_with_the_error_frame() -> None:
    chip = Pn532Chip()
    unknown = bytes([0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x7E, 0xAE, 0x00])  # no such command
    error = octets(SHEET["error_frame"])
    _, ack, frame = answers(chip, unknown, len(error))
    assert ack == READY + ACK
    assert frame == READY + error


def test_simulator_says_busy_before_any_command() -> None:
    assert Pn532Chip().read(1) == octets(SHEET["status_busy"])
