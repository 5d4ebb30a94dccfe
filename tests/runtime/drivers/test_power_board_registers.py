"""Properties of the power board's register codecs: words → status or DeviceGarbage, never else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.drivers import power_board_registers as reg
from runtime.drivers.modbus import DeviceRef
from runtime.hardware.errors import DeviceGarbage
from runtime.hardware.types import CpState, PowerBoardInfo, PowerBoardStatus

REF = DeviceRef("EVSE power board", "sim tcp 127.0.0.1:1 unit 1")
words = st.integers(min_value=0, max_value=0xFFFF)
any_words = st.lists(st.integers(min_value=-5, max_value=0x1_0005), max_size=16)


@given(any_words)
def test_status_decoder_returns_a_status_or_garbage(registers: list[int]) -> None:
    try:
        status = reg.decode_status(registers, REF)
    except DeviceGarbage as garbage:
        assert garbage.where == REF.where
        return
    assert isinstance(status, PowerBoardStatus)
    assert -50 <= status.temperature_c <= 150
    assert 0 <= status.pwm_duty_permille <= 1000


@given(st.lists(words, min_size=11, max_size=11))
def test_status_decoder_accepts_only_defined_values(registers: list[int]) -> None:
    cp, _high, _low, duty, contactor, faults, temperature = registers[:7]
    plausible = (
        cp <= 5
        and all(abs(reg.s16(w)) <= 15_000 for w in registers[1:3])
        and duty <= 1000
        and contactor <= 1
        and faults <= 7
        and -500 <= reg.s16(temperature) <= 1500
    )
    try:
        reg.decode_status(registers, REF)
    except DeviceGarbage:
        assert not plausible
    else:
        assert plausible


statuses = st.builds(
    PowerBoardStatus,
    cp_state=st.sampled_from(CpState),
    cp_high_mv=st.integers(-15_000, 15_000),
    cp_low_mv=st.integers(-15_000, 15_000),
    pwm_duty_permille=st.integers(0, 1000),
    contactor_closed=st.booleans(),
    relay_welded=st.booleans(),
    rcm_dc_fault=st.booleans(),
    diode_fault=st.booleans(),
    temperature_c=st.integers(-500, 1500).map(lambda tenths: tenths / 10),
    heartbeat=st.integers(0, 0xFFFF),
    analog_clamp_currents_a=st.tuples(*[st.integers(0, 0xFFFF).map(lambda c: c / 100)] * 3),
)


@given(statuses)
def test_status_survives_the_round_trip_through_registers(status: PowerBoardStatus) -> None:
    assert reg.decode_status(reg.encode_status(status), REF) == status


@given(any_words)
def test_identification_decoder_returns_info_or_garbage(registers: list[int]) -> None:
    try:
        info = reg.decode_identification(registers, REF)
    except DeviceGarbage:
        return
    assert info.vendor_id.isprintable()
    assert 0 <= info.serial_number <= 0xFFFF_FFFF


@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 0xFFFF_FFFF),
)
def test_identification_survives_the_round_trip(
    vendor: str, major: int, minor: int, serial: int
) -> None:
    info = PowerBoardInfo(vendor, f"{major}.{minor}", serial)
    assert reg.decode_identification(reg.encode_identification(info), REF) == info


def test_vendor_id_is_two_characters_per_register_nul_padded() -> None:
    words = reg.encode_identification(PowerBoardInfo("VersineticEEL", "1.4", 0x12345678))
    assert words[:8] == [0x5665, 0x7273, 0x696E, 0x6574, 0x6963, 0x4545, 0x4C00, 0x0000]
    assert words[8:] == [0x0104, 0x1234, 0x5678]


@pytest.mark.parametrize(
    ("duty", "valid"),
    [(0, True), (1, False), (79, False), (80, True), (970, True), (971, False), (1000, True)],
)
def test_valid_duties_are_0_1000_and_80_to_970(duty: int, valid: bool) -> None:
    assert reg.is_valid_duty(duty) is valid
