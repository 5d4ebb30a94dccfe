"""Every fault of the charger with its LED, its OCPP error code, and how it clears (manual 5.4).

Faults are caused at the far side of the real protocol: the simulated power board latches
its RCM, the simulated car shorts the pilot, a Modbus device stops answering, a chip vanishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.evse.commands import Commands
from runtime.evse.snapshot import evse_status
from runtime.evse.states import EvseState, LedColour
from runtime.sim.car import CarFault
from runtime.sim.modbus_server import BusFault
from tests.runtime.evse.harness import Rig, running_charger

OWNER = "FB433810"
S = EvseState


def error_codes(rig: Rig) -> set[str]:
    return {fault.ocpp_error_code for fault in evse_status(rig.controller).faults}


def test_dc_leakage_is_steady_red_ends_the_session_and_stays_until_power_cycle(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        database = tmp_path / "chargeos.db"
        async with running_charger(tmp_path, database_path=database) as rig:
            await rig.start_charging()
            rig.station.board.inject_rcm_fault()
            await rig.until_led(LedColour.RED)
            await rig.until(lambda: not rig.station.board.contactor_closed)  # red may show first
            assert "GroundFailure" in error_codes(rig)
            await rig.until(lambda: rig.transactions.active(1) is None)
            assert rig.transactions.recent(1)[0].stop_reason == "EmergencyStop"
            rig.unplug()
            await asyncio.sleep(0.5)
            assert rig.led() is LedColour.RED  # no self-healing of a leakage fault
            assert await Commands(rig.controller, asyncio.Event()).clear_faults() == "Rejected"
            assert rig.state is S.FAULTED

    asyncio.run(scenario())


def test_missing_diode_is_red_and_clears_after_unplugging(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.station.car.misbehave(CarFault.DIODE)
            await rig.until_led(LedColour.RED)
            assert "EVCommunicationError" in error_codes(rig)
            await rig.until(lambda: not rig.station.board.contactor_closed)  # red may show first
            rig.unplug()
            rig.station.car.misbehave(CarFault.NONE)
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


def test_pilot_short_is_red_and_clears_when_the_car_is_fixed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.station.car.misbehave(CarFault.CP_SHORT)
            await rig.until_led(LedColour.RED)
            assert "EVCommunicationError" in error_codes(rig)
            await rig.until(lambda: not rig.station.board.contactor_closed)  # red may show first
            rig.station.car.misbehave(CarFault.NONE)
            await rig.until_led(LedColour.YELLOW)  # connected again, a new card is needed
            assert rig.state is S.CONNECTED

    asyncio.run(scenario())


def test_silent_power_board_is_red_and_recovers_when_it_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            unit = rig.profile.hardware.power_board_address
            rig.modbus.set_fault(unit, BusFault.SILENT)
            await rig.until_led(LedColour.RED)
            assert "InternalError" in error_codes(rig)
            rig.modbus.set_fault(unit, BusFault.NONE)
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "garbage", [BusFault.EXCEPTION, BusFault.WRONG_LENGTH, BusFault.BAD_CRC, BusFault.GARBAGE]
)
def test_garbage_from_the_power_board_faults_without_crashing(
    tmp_path: Path, garbage: BusFault
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.modbus.set_fault(rig.profile.hardware.power_board_address, garbage)
            await rig.until_led(LedColour.RED)
            rig.modbus.set_fault(rig.profile.hardware.power_board_address, BusFault.NONE)
            await rig.until(lambda: rig.state in (S.CONNECTED, S.AVAILABLE))
            assert rig.transactions.active(1) is None

    asyncio.run(scenario())


@pytest.mark.parametrize("garbage", [BusFault.SILENT, BusFault.GARBAGE, BusFault.WRONG_LENGTH])
def test_meter_failure_stops_charging_and_recovers(tmp_path: Path, garbage: BusFault) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            unit = rig.profile.metering.internal_meter.modbus_address
            rig.modbus.set_fault(unit, garbage)
            await rig.until_led(LedColour.RED, timeout_s=8)
            assert "PowerMeterFailure" in error_codes(rig)
            await rig.until(lambda: not rig.station.board.contactor_closed)  # red may show first
            await rig.until(lambda: rig.transactions.active(1) is None)
            (ended,) = rig.transactions.recent(1)
            assert ended.meter_stop_wh is not None and ended.stop_reason == "EmergencyStop"
            rig.modbus.set_fault(unit, BusFault.NONE)
            await rig.until_state(S.CONNECTED, timeout_s=10)

    asyncio.run(scenario())


def test_missing_rfid_reader_is_red_until_it_is_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            rig.chips.rfid.answering = False
            await rig.until_led(LedColour.RED, timeout_s=8)
            assert "ReaderFailure" in error_codes(rig)
            rig.chips.rfid.answering = True
            await rig.until_led(LedColour.GREEN, timeout_s=8)

    asyncio.run(scenario())


def test_car_drawing_too_much_is_stopped_with_one_red_blink(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.station.car.misbehave(CarFault.OVERCURRENT)
            await rig.until_state(S.FINISHING, timeout_s=10)
            assert rig.controller.last_error_code == "OverCurrentFailure"
            await rig.until(lambda: not rig.station.board.contactor_closed)
            await rig.until_led(LedColour.LIGHT_BLUE)
            rig.unplug()
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["tilt", "bump"])
def test_tilt_or_bump_is_red_and_a_security_event_until_cleared(tmp_path: Path, how: str) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            await asyncio.sleep(0.3)  # the first samples calibrate the rest position
            sensor = rig.chips.accelerometer
            taken = sensor.samples_taken
            async with rig.controller.events.subscribe() as events:
                if how == "tilt":
                    rig.chips.accelerometer.tilt(45)
                else:
                    rig.chips.accelerometer.bump(12, samples=5)
                await rig.until_led(LedColour.RED)
                kinds = []
                while not events.empty():
                    kinds.append(events.get_nowait()["type"])
                assert "security" in kinds
            rig.chips.accelerometer.tilt(0)
            await rig.until(lambda: sensor.samples_taken > taken + 6)  # the knock is over
            await asyncio.sleep(0.3)
            assert rig.led() is LedColour.RED  # stays until an installer clears it
            assert await Commands(rig.controller, asyncio.Event()).clear_faults() == "Accepted"
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


def test_heat_throttles_power_in_steps_then_stops_then_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            full = evse_status(rig.controller).limits.effective_a
            rig.station.board.temperature_c = 76.0  # derating from 70 °C, stop at 85 °C
            await rig.until(lambda: evse_status(rig.controller).power_throttling_pct == 50.0)
            assert evse_status(rig.controller).limits.effective_a == full * 0.5
            rig.station.board.temperature_c = 90.0
            await rig.until_led(LedColour.RED)
            assert "HighTemperature" in error_codes(rig)
            rig.station.board.temperature_c = 82.0  # within the hysteresis: still too hot
            await asyncio.sleep(0.3)
            assert rig.state is S.FAULTED
            rig.station.board.temperature_c = 40.0
            await rig.until_state(S.CONNECTED)

    asyncio.run(scenario())


def test_welded_contactor_is_red_and_latched(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.station.board.weld_relay()
            await rig.present_card(OWNER)  # stop: the contactor is told to open but stays shut
            await rig.until_led(LedColour.RED)
            assert "PowerSwitchFailure" in error_codes(rig)
            rig.unplug()
            await asyncio.sleep(0.3)
            assert rig.state is S.FAULTED

    asyncio.run(scenario())
