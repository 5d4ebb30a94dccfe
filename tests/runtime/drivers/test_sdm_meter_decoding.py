"""Properties of the SDM decoders: register words → reading or DeviceGarbage, never else."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.drivers.modbus import DeviceRef
from runtime.drivers.sdm_meter import (
    decode_float32,
    decode_reading,
    encode_float32,
    read_plan,
    reading_from_values,
)
from runtime.hardware.errors import DeviceGarbage
from runtime.hardware.types import MeterReading
from schemas.metering import MeterType

REF = DeviceRef("kWh meter", "sim tcp 127.0.0.1:1 unit 2")
models = st.sampled_from(["sdm630", "sdm72d"])
word = st.integers(min_value=0, max_value=0xFFFF)


@given(models, st.lists(st.lists(word, max_size=90), max_size=3))
def test_reading_decoder_returns_a_reading_or_garbage(
    model: MeterType, blocks: list[list[int]]
) -> None:
    try:
        reading = decode_reading(model, blocks, REF)
    except DeviceGarbage as garbage:
        assert garbage.device == REF.device
        return
    assert isinstance(reading, MeterReading)


@given(models, st.data())
def test_reading_decoder_on_blocks_of_the_right_size(model: MeterType, data: st.DataObject) -> None:
    blocks = [
        data.draw(st.lists(word, min_size=s.count, max_size=s.count)) for s in read_plan(model)
    ]
    try:
        reading = decode_reading(model, blocks, REF)
    except DeviceGarbage:
        return
    values = (reading.energy_import_kwh, reading.power_w, *reading.voltages_v, *reading.currents_a)
    assert all(math.isfinite(v) for v in values)
    assert reading.energy_import_kwh >= 0 and reading.energy_export_kwh >= 0
    assert all(0 <= v <= 500 for v in reading.voltages_v)
    assert all(abs(i) <= 200 for i in reading.currents_a)
    assert reading.frequency_hz == 0 or 40 <= reading.frequency_hz <= 70


float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(float32s)
def test_float32_survives_the_round_trip_through_two_registers(value: float) -> None:
    assert decode_float32(*encode_float32(value)) == value


def test_float32_is_big_endian_high_word_first() -> None:
    assert encode_float32(230.0) == (0x4366, 0x0000)
    assert decode_float32(0x4248, 0x0000) == 50.0


@given(word, word)
def test_any_two_words_are_a_float_or_nan(high: int, low: int) -> None:
    value = decode_float32(high, low)
    assert value == struct.unpack(">f", bytes([high >> 8, high & 255, low >> 8, low & 255]))[0] or (
        math.isnan(value)
    )


plausible = st.fixed_dictionaries(
    {
        "voltage_l1": st.floats(0, 500, width=32),
        "voltage_l2": st.floats(0, 500, width=32),
        "voltage_l3": st.floats(0, 500, width=32),
        "current_l1": st.floats(-200, 200, width=32),
        "current_l2": st.floats(-200, 200, width=32),
        "current_l3": st.floats(-200, 200, width=32),
        "power": st.floats(-300_000, 300_000, width=32),
        "frequency": st.one_of(st.just(0.0), st.floats(40, 70, width=32)),
        "energy_import": st.floats(0, 1e7, width=32),
        "energy_export": st.floats(0, 1e7, width=32),
    }
)


@given(plausible)
def test_plausible_values_are_accepted_unchanged(values: dict[str, float]) -> None:
    reading = reading_from_values(values, REF)
    assert reading.voltages_v == (values["voltage_l1"], values["voltage_l2"], values["voltage_l3"])
    assert reading.energy_import_kwh == values["energy_import"]


def test_negative_energy_is_garbage() -> None:
    values = {"energy_import": -0.001}
    with pytest.raises(DeviceGarbage, match="negative energy"):
        reading_from_values(values, REF)
