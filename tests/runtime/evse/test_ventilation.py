"""State D (the car asks for energy and for ventilation) on a charger with and without ventilation.

The manual's charger has no ventilation: a car in D gets no energy, the LED turns red with the
OCPP error code until the car leaves D by being unplugged (back in B it would only ask in D
again). A profile with
`electrical.ventilation_available` charges a car in D as in C.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.config.loader import load_profile
from runtime.evse.faults import FaultKind
from runtime.evse.iec61851 import PWM_OFF_PERMILLE
from runtime.evse.snapshot import evse_status
from runtime.evse.states import EvseState, LedColour
from runtime.hardware.types import CpState
from runtime.sim.car import CarSpec
from tests.runtime.evse.harness import OWNER, REPO, SIMULATED, rig_profile, running_charger
from tests.runtime.evse.virtual_rig import VirtualCharger

S = EvseState
# A car that takes its time to give up asking once the pilot stops offering (IEC 61851-1
# Table A.6 allows it 5 s), so the red LED can be seen while it is still in D.
SLOW_CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=2.0)
NOT_VENTILATED, VENTILATED = "ventilation_available: false", "ventilation_available: true"
PLUG_AND_CHARGE = REPO / "profiles" / "plug-and-charge.yaml"


class WatchedCharger(VirtualCharger):
    """Records, after every control step, whether the contactor was closed and the CP state."""

    closed_in: list[CpState]

    def after_step(self) -> None:
        board = self.station.board
        if board.contactor_closed or self.controller.governor.outputs.contactor_closed:
            self.closed_in.append(board.status().cp_state)


def watched(tmp_path: Path, profile_path: Path) -> WatchedCharger:
    profile = load_profile(profile_path).profile
    charger = WatchedCharger(profile, tmp_path / "db.sqlite", SLOW_CAR)
    charger.closed_in = []
    return charger


def test_car_asking_for_ventilation_gets_no_energy_and_the_light_turns_red(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        profile_path = rig_profile(tmp_path)
        async with running_charger(tmp_path, profile_path, car=SLOW_CAR) as rig:
            rig.station.car.plug_in(ventilation=True)
            await rig.until_state(S.CONNECTED)
            await rig.present_card(OWNER)
            await rig.until_led(LedColour.RED)
            assert not rig.station.board.contactor_closed
            assert rig.station.board.pilot_duty_permille == PWM_OFF_PERMILLE  # +12 V, no offer
            faults = evse_status(rig.controller).faults
            assert [(f.ocpp_error_code, f.vendor_error_code) for f in faults] == [
                ("OtherError", "VENTILATION_UNAVAILABLE")
            ]
            assert rig.transactions.active(1) is None
            assert rig.transactions.recent(1)[0].stop_reason == "EmergencyStop"
            rig.unplug()
            await rig.until_led(LedColour.GREEN)
            assert evse_status(rig.controller).faults == ()

    asyncio.run(scenario())


def test_state_d_without_ventilation_never_closes_the_contactor_and_stays_red_until_unplugged(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        charger = watched(tmp_path, SIMULATED)
        try:
            charger.station.car.plug_in(ventilation=True)
            await charger.advance(0.3)
            await charger.present_card(OWNER)
            assert charger.controller.machine.state is S.FAULTED
            assert await charger.led_colour() is LedColour.RED
            await charger.advance(3.0)  # back in B (no offer), it would ask in D again
            assert charger.station.car.cp_state is CpState.B
            assert await charger.led_colour() is LedColour.RED
            assert charger.controller.faults.kinds == {FaultKind.VENTILATION}
            charger.station.car.unplug()
            await charger.advance(0.3)
            assert charger.controller.machine.state is S.AVAILABLE
            assert await charger.led_colour() is LedColour.GREEN
            assert charger.closed_in == []
        finally:
            charger.close()

    asyncio.run(scenario())


def test_plug_and_charge_opens_one_transaction_for_a_car_asking_for_ventilation(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        charger = watched(tmp_path, PLUG_AND_CHARGE)
        try:
            charger.station.car.plug_in(ventilation=True)
            await charger.advance(10.0)
            assert charger.controller.machine.state is S.FAULTED
            assert charger.transactions.count() == 1
            assert charger.transactions.active(1) is None
            assert charger.closed_in == []
        finally:
            charger.close()

    asyncio.run(scenario())


def test_state_d_with_ventilation_available_charges_like_c(tmp_path: Path) -> None:
    async def scenario() -> None:
        ventilated = rig_profile(tmp_path, lambda text: text.replace(NOT_VENTILATED, VENTILATED))
        charger = watched(tmp_path, ventilated)
        assert charger.profile.electrical.ventilation_available
        try:
            charger.station.car.plug_in(ventilation=True)
            await charger.advance(0.3)
            await charger.present_card(OWNER)
            await charger.advance(3.0)
            assert charger.controller.machine.state is S.CHARGING
            assert charger.station.board.contactor_closed
            assert charger.station.car.currents_a[0] > 0
            assert set(charger.closed_in) == {CpState.D}
            assert charger.controller.faults.kinds == frozenset()
            assert await charger.led_colour() is LedColour.BLUE
        finally:
            charger.close()

    asyncio.run(scenario())
