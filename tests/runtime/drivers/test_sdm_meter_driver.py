"""The Eastron SDM driver against the simulated meter over Modbus RTU on loopback."""

from __future__ import annotations

import pytest
from modbus_harness import METER_UNIT, Rig, run_rig

from runtime.drivers.sdm_meter import SDM_REGISTERS, SdmMeter, read_plan
from runtime.hardware.errors import DeviceError, DeviceGarbage, DeviceTimeout
from runtime.hardware.protocols import EnergyMeter
from runtime.hardware.types import MeterInfo
from runtime.sim.meter import SimMeter
from runtime.sim.modbus_server import BusFault
from runtime.sim.station import SimStation
from schemas.metering import MeterType

MODELS: list[MeterType] = ["sdm630", "sdm72d"]


@pytest.mark.parametrize(
    ("model", "name"), [("sdm630", "Eastron SDM630"), ("sdm72d", "Eastron SDM72D-M")]
)
def test_probe_reads_the_serial_number(model: MeterType, name: str) -> None:
    async def scenario(rig: Rig) -> None:
        meter: EnergyMeter = rig.meter
        assert await meter.probe() == MeterInfo(name, 21_000_123)

    run_rig(scenario, meter_model=model)


@pytest.mark.parametrize("model", MODELS)
def test_a_reading_is_one_request_within_the_eastron_limit(model: MeterType) -> None:
    (span,) = read_plan(model)
    assert span.first == 0x0000
    assert span.count <= 80
    assert {r.key for r in span.registers} == {r.key for r in SDM_REGISTERS if model in r.models}


@pytest.mark.parametrize("model", MODELS)
def test_energy_rises_while_the_simulated_car_charges(model: MeterType) -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.car.plug_in()
        await rig.board.set_pwm(267)  # 16 A
        await rig.board.set_contactor(True)
        rig.station.advance(rig.station.car.spec.reaction_time_s)
        first = await rig.meter.read()
        rig.station.advance(60.0)
        second = await rig.meter.read()
        assert second.currents_a == pytest.approx((16.0, 16.0, 16.0))
        assert second.voltages_v == pytest.approx((230.0, 230.0, 230.0))
        assert second.power_w == pytest.approx(3 * 230 * 16)
        assert second.frequency_hz == pytest.approx(50.0)
        added = second.energy_import_kwh - first.energy_import_kwh
        assert added == pytest.approx(3 * 230 * 16 * 60 / 3.6e6, rel=1e-3)
        assert second.energy_export_kwh == 0.0

    run_rig(scenario, meter_model=model)


def test_energy_going_backwards_is_garbage_for_this_driver_instance() -> None:
    async def scenario(rig: Rig) -> None:
        assert (await rig.meter.read()).energy_import_kwh == 1234.5
        rig.station.meter.reset_counters()
        with pytest.raises(DeviceGarbage) as raised:
            await rig.meter.read()
        assert "import energy went backwards from 1234.5 kWh to 0.0 kWh" in raised.value.problem
        assert raised.value.where == rig.where_meter
        fresh = SdmMeter(rig.bus, METER_UNIT, "sdm630")
        assert (await fresh.read()).energy_import_kwh == 0.0

    run_rig(scenario, SimStation(meter=SimMeter(energy_import_kwh=1234.5)))


@pytest.mark.parametrize(
    ("attribute", "value", "text"),
    [
        ("voltages_v", (230.0, 501.0, 230.0), "L2 voltage 501.0 V"),
        ("voltages_v", (-1.0, 230.0, 230.0), "L1 voltage -1.0 V"),
        ("currents_a", (0.0, 0.0, 250.0), "L3 current 250.0 A"),
        ("currents_a", (-201.0, 0.0, 0.0), "L1 current -201.0 A"),
        ("frequency_hz", 75.0, "frequency 75.0 Hz"),
        ("frequency_hz", float("nan"), "Frequency of supply voltages (register 0x0046) is nan"),
        ("frequency_hz", float("inf"), "is inf"),
    ],
)
def test_impossible_values_are_garbage(attribute: str, value: object, text: str) -> None:
    async def scenario(rig: Rig) -> None:
        setattr(rig.station.meter, attribute, value)
        with pytest.raises(DeviceGarbage) as raised:
            await rig.meter.read()
        assert text in raised.value.problem

    run_rig(scenario)


def test_frequency_zero_means_not_measured_and_is_accepted() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.meter.frequency_hz = 0.0
        assert (await rig.meter.read()).frequency_hz == 0.0

    run_rig(scenario)


_EXPECTED: dict[BusFault, tuple[type[DeviceError], str]] = {
    BusFault.EXCEPTION: (DeviceGarbage, "exception response 4"),
    BusFault.WRONG_LENGTH: (DeviceGarbage, "register(s), got"),
    BusFault.GARBAGE: (DeviceGarbage, "is nan"),  # probe: "serial number 0xffffffff"
    BusFault.SILENT: (DeviceTimeout, "no reply within"),
    BusFault.BAD_CRC: (DeviceGarbage, "CRC or framing error"),
}


@pytest.mark.parametrize("fault", list(_EXPECTED))
def test_every_bus_fault_is_a_typed_error_naming_meter_and_address(fault: BusFault) -> None:
    error_type, text = _EXPECTED[fault]

    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(METER_UNIT, fault)
        for call in (rig.meter.read, rig.meter.probe):
            with pytest.raises(DeviceError) as raised:
                await call()
            assert type(raised.value) is error_type
            assert (raised.value.device, raised.value.where) == ("kWh meter", rig.where_meter)
            assert text in raised.value.problem or call == rig.meter.probe
        rig.server.set_fault(METER_UNIT, BusFault.NONE)
        assert (await rig.meter.read()).voltages_v == (230.0, 230.0, 230.0)

    run_rig(scenario)


def test_garbage_words_read_as_nan_name_the_register() -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(METER_UNIT, BusFault.GARBAGE)
        with pytest.raises(
            DeviceGarbage, match=r"Phase 1 line to neutral volts \(register 0x0000\) is nan"
        ):
            await rig.meter.read()

    run_rig(scenario)
