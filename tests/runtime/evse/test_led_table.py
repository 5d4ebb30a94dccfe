"""Every row of the manual's LED table on the running charger (SPEC "LED colours")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.config.loader import load_profile
from runtime.evse.commands import Commands
from runtime.evse.controller import POLL_PERIOD_S
from runtime.evse.states import EvseState, LedColour
from tests.runtime.evse.harness import FAST_CAR, SIMULATED, Rig, running_charger
from tests.runtime.evse.virtual_rig import VirtualCharger

OWNER = "FB433810"
S = EvseState


def commands(rig: Rig) -> Commands:
    return Commands(rig.controller, asyncio.Event())


def test_no_power_available_is_light_blue_and_returns_to_blue(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            rig.plug()
            await rig.until_state(S.CONNECTED)
            await rig.present_card(OWNER)
            await rig.until_led(LedColour.BLUE)
            until = datetime.now(UTC) + timedelta(seconds=2)
            assert await commands(rig).set_current_limit(0, until) == "Accepted"
            await rig.until_state(S.SUSPENDED_EVSE)
            await rig.until_led(LedColour.LIGHT_BLUE)
            assert rig.station.board.duty_command == 1000  # pilot without PWM: state X1
            await rig.until(lambda: not rig.station.board.contactor_closed, timeout_s=7)
            await rig.until_led(LedColour.BLUE, timeout_s=8)  # the limit expired

    asyncio.run(scenario())


def test_lower_limit_lowers_the_pwm_at_once(tmp_path: Path) -> None:
    """On virtual time: the next control step after the limit writes the lower duty."""

    async def scenario() -> None:
        charger = VirtualCharger(load_profile(SIMULATED).profile, tmp_path / "db.sqlite", FAST_CAR)
        board, car = charger.station.board, charger.station.car
        try:
            car.plug_in()
            await charger.advance_until(lambda: charger.controller.machine.state is S.CONNECTED, 5)
            await charger.present_card(OWNER)
            await charger.advance_until(lambda: board.contactor_closed, 5)
            assert board.duty_command == 533  # 32 A = 53.3 %
            assert (
                await Commands(charger.controller, asyncio.Event()).set_current_limit(10, None)
                == "Accepted"
            )
            await charger.advance(POLL_PERIOD_S)
            assert board.duty_command == 166  # 10 A = 16.6 %, one poll later
            await charger.advance_until(lambda: max(car.currents_a) <= 10, 2)
        finally:
            charger.close()

    asyncio.run(scenario())


def test_unavailable_charger_shows_no_light_and_refuses_cards(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            assert await commands(rig).change_availability(operative=False) == "Accepted"
            await rig.until_led(LedColour.OFF)
            await rig.present_card(OWNER)
            assert rig.state is S.UNAVAILABLE
            await commands(rig).change_availability(operative=True)
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


def test_firmware_update_blinks_blue_and_green(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            await commands(rig).set_updating(True)
            await rig.until_led(LedColour.BLUE, timeout_s=2)
            await rig.until_led(LedColour.GREEN, timeout_s=2)
            await rig.until_led(LedColour.BLUE, timeout_s=2)
            await commands(rig).set_updating(False)
            await asyncio.sleep(0.3)
            assert rig.led() is LedColour.GREEN

    asyncio.run(scenario())


def test_update_blinking_ends_by_itself_unless_renewed(tmp_path: Path) -> None:
    """A crashed updater never leaves the charger blinking: the indication runs out."""

    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            await commands(rig).set_updating(True, duration_s=1.5)
            await rig.until_led(LedColour.BLUE, timeout_s=2)
            await commands(rig).set_updating(True, duration_s=1.5)  # renewed once
            await rig.until_led(LedColour.GREEN, timeout_s=2)
            assert rig.controller.indicator.updating
            await rig.until(lambda: not rig.controller.indicator.updating, timeout_s=2)
            for _ in range(8):  # steady green again over more than a blink period
                await asyncio.sleep(0.15)
                assert rig.led() is LedColour.GREEN

    asyncio.run(scenario())


def test_a_fault_during_an_update_shows_steady_red(tmp_path: Path) -> None:
    """Safety first: the update's blinking never hides a fault."""

    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            await commands(rig).set_updating(True)
            await rig.until_led(LedColour.BLUE, timeout_s=2)
            rig.station.board.inject_rcm_fault()
            await rig.until_led(LedColour.RED)
            for _ in range(8):
                await asyncio.sleep(0.15)
                assert rig.led() is LedColour.RED
            assert rig.controller.indicator.updating  # still updating, shown as the fault

    asyncio.run(scenario())


def test_remote_start_and_stop_work_like_a_card(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            rig.plug()
            await rig.until_state(S.CONNECTED)
            assert await commands(rig).remote_start("CSMS-TAG") == "Accepted"
            await rig.until_led(LedColour.BLUE)
            active = rig.transactions.active(1)
            assert active is not None
            assert await commands(rig).remote_stop(active.transaction_id + 1) == "Rejected"
            assert await commands(rig).remote_stop(active.transaction_id) == "Accepted"
            await rig.until(lambda: rig.transactions.active(1) is None)
            assert rig.transactions.recent(1)[0].stop_reason == "Remote"

    asyncio.run(scenario())
