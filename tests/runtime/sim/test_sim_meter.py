"""The simulated SDM meter: energy integration and its registers as the driver decodes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.drivers.modbus import DeviceRef
from runtime.drivers.sdm_meter import decode_reading, read_plan
from runtime.sim.meter import SimMeter
from runtime.sim.register_device import IllegalAddress
from schemas.metering import MeterType

REF = DeviceRef("kWh meter", "model")


def test_energy_integrates_the_power_of_the_currents() -> None:
    meter = SimMeter()
    meter.currents_a = (16.0, 16.0, 16.0)
    for _ in range(3600):
        meter.tick(1.0)
    assert meter.power_w == 3 * 230 * 16
    assert meter.energy_import_kwh == pytest.approx(11.04)


def test_exported_power_counts_on_the_export_register() -> None:
    meter = SimMeter()
    meter.currents_a = (-10.0, 0.0, 0.0)
    meter.tick(3600.0)
    assert meter.energy_import_kwh == 0.0
    assert meter.energy_export_kwh == pytest.approx(2.3)


@given(st.lists(st.tuples(st.floats(-63, 63), st.floats(0, 10)), max_size=30))
def test_energy_never_goes_backwards(steps: list[tuple[float, float]]) -> None:
    meter = SimMeter(energy_import_kwh=100.0)
    last = (meter.energy_import_kwh, meter.energy_export_kwh)
    for amps, seconds in steps:
        meter.currents_a = (amps, amps, amps)
        meter.tick(seconds)
        now = (meter.energy_import_kwh, meter.energy_export_kwh)
        assert now[0] >= last[0] and now[1] >= last[1]
        last = now


@pytest.mark.parametrize("model", ["sdm630", "sdm72d"])
def test_registers_decode_to_the_model_values(model: MeterType) -> None:
    meter = SimMeter(model, energy_import_kwh=42.5)
    meter.voltages_v = (229.5, 231.0, 232.5)
    meter.currents_a = (6.0, 7.5, 0.0)
    blocks = [meter.read_input_registers(span.first, span.count) for span in read_plan(model)]
    reading = decode_reading(model, blocks, REF)
    assert reading.voltages_v == (229.5, 231.0, 232.5)
    assert reading.currents_a == (6.0, 7.5, 0.0)
    assert reading.power_w == pytest.approx(229.5 * 6 + 231 * 7.5)
    assert (reading.energy_import_kwh, reading.frequency_hz) == (42.5, 50.0)


def test_serial_number_is_a_u32_in_two_holding_registers() -> None:
    assert SimMeter(serial_number=0x0123_4567).read_holding_registers(0xFC00, 2) == [0x0123, 0x4567]


def test_the_simulated_meter_takes_no_writes() -> None:
    with pytest.raises(IllegalAddress):
        SimMeter().write_holding_registers(0xFC00, [1])
