"""The manual's charging flows on the whole charger: real drivers against simulated devices.

Each test reads like a step list of manual sections 5.1-5.4: what the owner does, and what the
LED, the pilot, the contactor and the transaction record do in return.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.config.loader import load_profile
from runtime.evse.controller import POLL_PERIOD_S
from runtime.evse.states import EvseState, LedColour
from runtime.hardware.types import CpState
from tests.runtime.evse.harness import FAST_CAR, SIMULATED, rig_profile, running_charger
from tests.runtime.evse.virtual_rig import VirtualCharger

OWNER = "FB433810"
STRANGER = "DEADBEEF"
S = EvseState


def test_idle_charger_is_green_and_offers_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            assert rig.state is S.AVAILABLE
            assert rig.station.board.duty_command == 1000
            assert not rig.station.board.contactor_closed

    asyncio.run(scenario())


def test_plug_then_card_goes_yellow_light_blue_blue_and_records_a_transaction(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            rig.plug()
            await rig.until_led(LedColour.YELLOW)
            beeps = rig.chips.led.beeps
            await rig.present_card(OWNER)
            await rig.until(lambda: rig.chips.led.beeps > beeps)
            await rig.until_led(LedColour.BLUE)
            assert rig.station.board.contactor_closed
            assert rig.station.car.currents_a[0] > 6
            active = rig.transactions.active(1)
            assert active is not None and active.id_tag == OWNER

    asyncio.run(scenario())


def test_card_then_plug_goes_yellow_then_light_blue_then_blue(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            await rig.present_card(OWNER)
            await rig.until_led(LedColour.YELLOW)
            assert rig.state is S.AUTHORIZED
            rig.plug()
            await rig.until_state(S.CHARGING)
            await rig.until_led(LedColour.BLUE)

    asyncio.run(scenario())


def test_same_card_stops_light_blue_then_unplug_green_and_energy_is_billed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            await asyncio.sleep(1.5)  # let some energy flow
            await rig.present_card(OWNER)
            await rig.until_led(LedColour.LIGHT_BLUE)
            await rig.until(lambda: rig.transactions.active(1) is None)
            assert not rig.station.board.contactor_closed
            rig.unplug()
            await rig.until_led(LedColour.GREEN)
            (ended,) = rig.transactions.recent(1)
            assert ended.stop_reason == "Local" and ended.id_tag == OWNER
            assert ended.meter_stop_wh is not None and ended.meter_stop_wh > ended.meter_start_wh
            assert ended.energy_used_wh == ended.meter_stop_wh - ended.meter_start_wh

    asyncio.run(scenario())


def test_a_different_card_is_refused_with_one_red_blink_and_charging_goes_on(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.chips.rfid.present_card(STRANGER)
            await rig.until_led(LedColour.RED, timeout_s=2)
            rig.chips.rfid.remove_card()
            await rig.until_led(LedColour.BLUE, timeout_s=2)
            assert rig.state is S.CHARGING

    asyncio.run(scenario())


def test_unknown_card_on_an_offline_charger_blinks_red_once_and_stays_yellow(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            rig.plug()
            await rig.until_led(LedColour.YELLOW)
            rig.chips.rfid.present_card(STRANGER)
            await rig.until_led(LedColour.RED, timeout_s=2)
            rig.chips.rfid.remove_card()
            await rig.until_led(LedColour.YELLOW, timeout_s=2)
            assert rig.transactions.active(1) is None

    asyncio.run(scenario())


def test_car_full_turns_light_blue_and_unplug_ends_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            rig.plug(capacity_kwh=0.005)  # full after a few seconds at 11 kW
            await rig.until_state(S.CONNECTED)
            await rig.present_card(OWNER)
            await rig.until_state(S.CHARGING)
            await rig.until_state(S.SUSPENDED_EV, timeout_s=10)
            await rig.until_led(LedColour.LIGHT_BLUE)
            assert rig.station.car.full
            await rig.until(lambda: not rig.station.board.contactor_closed)
            rig.unplug()
            await rig.until_led(LedColour.GREEN)
            (ended,) = rig.transactions.recent(1)
            assert ended.stop_reason == "EVDisconnected"

    asyncio.run(scenario())


def test_plug_and_charge_starts_on_the_default_tag_when_the_cable_goes_in(
    tmp_path: Path,
) -> None:
    def plug_and_charge(text: str) -> str:
        return text.replace("  rfid_enabled: true", "  rfid_enabled: false").replace(
            "default_id_tag_mode: authorisation_required", "default_id_tag_mode: default_id_tag"
        )

    async def scenario() -> None:
        async with running_charger(tmp_path, rig_profile(tmp_path, plug_and_charge)) as rig:
            await rig.until_led(LedColour.GREEN)
            rig.plug()
            await rig.until_state(S.CHARGING)
            active = rig.transactions.active(1)
            assert active is not None and active.id_tag == "default"
            rig.unplug()
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


def test_contactor_opens_within_one_poll_when_the_car_stops_drawing(tmp_path: Path) -> None:
    """IEC 61851-1 Table A.6 seq. 8.1 on virtual time: counted in polls, not wall-clock ms."""

    async def scenario() -> None:
        charger = VirtualCharger(load_profile(SIMULATED).profile, tmp_path / "db.sqlite", FAST_CAR)
        board = charger.station.board
        try:
            charger.station.car.plug_in()
            await charger.advance_until(lambda: charger.controller.machine.state is S.CONNECTED, 5)
            await charger.present_card(OWNER)
            await charger.advance_until(lambda: board.contactor_closed, 5)
            charger.station.car.become_full()  # the car stops drawing: C -> B
            await charger.advance_until(lambda: board.status().cp_state is CpState.B, 2)
            polls_after_b = 0
            while board.contactor_command and polls_after_b < 10:
                await charger.advance(POLL_PERIOD_S)
                polls_after_b += 1
            assert not board.contactor_command
            assert polls_after_b <= 1, f"contactor commanded open {polls_after_b} polls after B"
        finally:
            charger.close()

    asyncio.run(scenario())
