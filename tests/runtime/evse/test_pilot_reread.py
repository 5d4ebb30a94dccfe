"""After a fault the charger looks at the cable again before it acts on it (plug & charge).

While the pilot is held at -12 V the board cannot see the car: its CP reading is frozen. When
the fault clears, the pilot returns to +12 V and the charger reads it afresh before any
transition, so a car unplugged during the fault gets no phantom transaction.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.config.loader import load_profile
from runtime.evse.iec61851 import PILOT_FAULT_PERMILLE
from runtime.evse.states import EvseState, LedColour
from runtime.sim.car import CarSpec
from tests.runtime.evse.harness import REPO
from tests.runtime.evse.virtual_rig import VirtualCharger

S = EvseState
PLUG_AND_CHARGE = load_profile(REPO / "profiles" / "plug-and-charge.yaml").profile
CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=1.0)
HOT_C, COOL_C = 95.0, 25.0  # above the profile's 85 °C stop, and back below its hysteresis


async def charging_then_too_hot(charger: VirtualCharger) -> None:
    charger.station.car.plug_in()
    await charger.advance(2.0)
    assert charger.controller.machine.state is S.CHARGING
    assert charger.transactions.count() == 1
    charger.station.board.temperature_c = HOT_C
    await charger.advance(0.5)
    assert charger.controller.machine.state is S.FAULTED
    assert charger.station.board.pilot_duty_permille == PILOT_FAULT_PERMILLE  # -12 V


def test_car_unplugged_during_a_fault_gets_no_plug_and_charge_transaction_and_is_green(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        charger = VirtualCharger(PLUG_AND_CHARGE, tmp_path / "db.sqlite", CAR)
        try:
            await charging_then_too_hot(charger)
            charger.station.car.unplug()
            await charger.advance(0.5)
            charger.station.board.temperature_c = COOL_C
            await charger.advance(1.0)
            assert charger.transactions.count() == 1  # only the session before the fault
            assert charger.transactions.active(1) is None
            assert charger.controller.machine.state is S.AVAILABLE
            assert await charger.led_colour() is LedColour.GREEN
        finally:
            charger.close()

    asyncio.run(scenario())


def test_car_still_plugged_after_a_fault_gets_a_new_plug_and_charge_session(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        charger = VirtualCharger(PLUG_AND_CHARGE, tmp_path / "db.sqlite", CAR)
        try:
            await charging_then_too_hot(charger)
            charger.station.board.temperature_c = COOL_C
            await charger.advance(3.0)
            assert charger.controller.machine.state is S.CHARGING
            assert charger.transactions.count() == 2
            assert charger.transactions.active(1) is not None
        finally:
            charger.close()

    asyncio.run(scenario())
