"""The simulated charger a profile describes: its car, its meters on their buses, and what
`fault`, `clear` and `power-cycle` do to it (in-process, time moved by `tick`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.config.loader import load_profile
from runtime.drivers.lis3dh import Lis3dh
from runtime.drivers.modbus import ModbusBus
from runtime.drivers.pca9634 import Pca9634
from runtime.drivers.sdm_meter import SdmMeter
from runtime.hardware.errors import DeviceError
from runtime.hardware.types import CpState
from runtime.sim.api_models import PlugRequest, SimFault
from runtime.sim.modbus_server import EXTERNAL_BUS, LOOPBACK
from runtime.sim.rig import SimConflict, SimRig
from schemas import Profile
from schemas.metering import ModbusMeterMetering

SIMULATED = Path(__file__).resolve().parents[3] / "profiles" / "simulated.yaml"


def simulated() -> Profile:
    return load_profile(SIMULATED).profile


def with_external_meter(profile: Profile, address: int) -> Profile:
    metering = profile.metering.model_copy(
        update={"external": ModbusMeterMetering(type="sdm630", modbus_address=address)}
    )
    return profile.model_copy(update={"metering": metering})


def one_phase(profile: Profile) -> Profile:
    electrical = profile.electrical.model_copy(update={"phases": 1})
    return profile.model_copy(update={"electrical": electrical})


def test_the_default_car_is_three_phase_16_a_20_kwh() -> None:
    spec = SimRig.from_profile(simulated()).car.spec
    assert (spec.phases, spec.max_current_a, spec.capacity_kwh) == (3, 16.0, 20.0)


def test_a_single_phase_charger_gets_a_single_phase_car() -> None:
    assert SimRig.from_profile(one_phase(simulated())).car.spec.phases == 1


def test_plug_options_bring_a_different_car() -> None:
    rig = SimRig.from_profile(simulated())
    rig.plug(PlugRequest(phases=1, max_current_a=10, capacity_kwh=2))
    status = rig.status().car
    assert (status.phases, status.max_current_a, status.capacity_kwh) == (1, 10.0, 2.0)
    rig.unplug()
    rig.plug(PlugRequest())
    assert rig.status().car.phases == 1  # the last car stays on the drive


def test_a_car_plugged_with_ventilation_asks_in_state_d() -> None:
    rig = SimRig.from_profile(simulated())
    rig.plug(PlugRequest(ventilation=True))
    rig.station.board.duty_command = 266  # the EVSE offers 16 A
    rig.tick(0.02)
    assert rig.status().board.cp_state == "D"
    assert rig.status().car.needs_ventilation
    rig.unplug()
    rig.plug(PlugRequest())
    assert not rig.status().car.needs_ventilation  # the next car asks in C again


def test_commands_that_need_a_car_say_so() -> None:
    rig = SimRig.from_profile(simulated())
    with pytest.raises(SimConflict, match="no car is plugged in"):
        rig.fill()
    with pytest.raises(SimConflict, match="no car is plugged in"):
        rig.unplug()


def test_a_full_car_goes_back_to_b() -> None:
    rig = SimRig.from_profile(simulated())
    rig.plug(PlugRequest())
    rig.station.board.duty_command = 533  # the EVSE offers 32 A
    rig.tick(0.02)
    assert rig.car.cp_state is CpState.C
    rig.fill()
    rig.tick(0.02)
    assert rig.status().board.cp_state == "B"
    assert rig.status().car.full


def test_clear_repairs_everything_but_the_rcm_latch() -> None:
    rig = SimRig.from_profile(simulated())
    rig.plug(PlugRequest())
    for kind in SimFault:
        rig.inject(kind)
    rig.tick(0.02)
    assert rig.status().board.rcm_dc_fault
    rig.clear()
    status = rig.status()
    assert status.injected == ()
    assert status.car.fault == "none"
    assert status.board.temperature_c == 25.0
    assert not rig.station.board.relay_welded
    assert status.board.answering and status.meter.answering and status.reader.answering
    assert status.led.answering and status.accelerometer_answering
    assert status.acceleration_g == (0.0, 0.0, 1.0)
    assert status.board.rcm_dc_fault
    rig.power_cycle()
    assert not rig.status().board.rcm_dc_fault


@pytest.mark.parametrize("kind", [SimFault.ACCELEROMETER, SimFault.LED])
def test_fault_accelerometer_or_led_makes_the_chip_vanish_until_clear(kind: SimFault) -> None:
    rig = SimRig.from_profile(simulated())
    chips, i2c = rig.chips, rig.profile.hardware.i2c
    bus = chips.local_bus()
    device: Lis3dh | Pca9634 = (
        Lis3dh(bus, bus_number=i2c.bus, address=i2c.accelerometer)
        if kind is SimFault.ACCELEROMETER
        else Pca9634(bus, bus_number=i2c.bus, address=i2c.led_driver)
    )
    asyncio.run(device.probe())
    rig.inject(kind)
    with pytest.raises(DeviceError, match="no answer"):
        asyncio.run(device.probe())
    status = rig.status()
    assert not (status.accelerometer_answering and status.led.answering)
    assert kind in status.injected
    rig.clear()
    asyncio.run(device.probe())


def test_an_external_modbus_meter_sees_the_site_and_the_car() -> None:
    async def scenario() -> tuple[float, float, float]:
        rig = SimRig.from_profile(with_external_meter(simulated(), 5))
        ports = await rig.modbus.start()
        bus = ModbusBus.loopback(LOOPBACK, ports[EXTERNAL_BUS], timeout_s=0.3)
        try:
            rig.set_site_load((10.0, 4.0, 2.0))
            rig.tick(0.02)
            return (await SdmMeter(bus, 5, "sdm630").read()).currents_a
        finally:
            await bus.close()
            await rig.modbus.stop()

    assert asyncio.run(scenario()) == pytest.approx((10.0, 4.0, 2.0))


def test_without_an_external_modbus_meter_the_external_bus_still_listens() -> None:
    async def scenario() -> int:
        rig = SimRig.from_profile(simulated())
        ports = await rig.modbus.start()
        await rig.modbus.stop()
        return ports[EXTERNAL_BUS]

    assert asyncio.run(scenario()) > 0


def test_board_hang_freezes_what_the_board_reports_but_status_shows_its_real_outputs() -> None:
    rig = SimRig.from_profile(simulated())
    rig.plug(PlugRequest())
    board = rig.station.board
    board.write_holding_registers(100, [533, 1])  # PWM 53.3 %, contactor closed
    rig.tick(0.05)
    rig.inject(SimFault.BOARD_HANG)
    board.write_holding_registers(101, [0])  # the master opens the contactor
    rig.tick(0.05)
    status = rig.status()
    assert status.board.hung and SimFault.BOARD_HANG in status.injected
    assert board.status().contactor_closed  # the frozen registers still say closed
    assert not status.board.contactor_closed  # but the contactor really opened
    rig.clear()
    assert not rig.status().board.hung
