"""The charger fails safe: no energy without a live control loop, a board that runs, a clean step.

The whole evse service runs on virtual time (its own concurrent loops, the real drivers on an
in-process bus, the simulated board, meter and car), so bus contention and watchdog timing are
measured in exact virtual seconds, not on a loaded machine's wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from runtime.config.loader import load_profile
from runtime.drivers import power_board_registers as reg
from runtime.evse.commands import Commands
from runtime.evse.controller import POLL_PERIOD_S
from runtime.evse.iec61851 import (
    CONTACTOR_OFF_AFTER_EV_STOP_S,
    FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S,
    PILOT_FAULT_PERMILLE,
    PWM_OFF_PERMILLE,
)
from runtime.evse.liveness import WATCHDOG_S
from runtime.evse.recorder import record_events
from runtime.evse.service import start_controller
from runtime.evse.states import EvseState
from runtime.hardware.types import CpState
from runtime.persistence.event_log import EventLog
from runtime.sim.car import CarSpec
from runtime.sim.power_board import CONTACTOR_DELAY_S
from runtime.sim.station import TICK_PERIOD_S
from tests.runtime.evse.virtual_loop import VirtualTimeLoop
from tests.runtime.evse.virtual_rig import LoopTime, VirtualCharger

REPO = Path(__file__).resolve().parents[3]
PROFILE = load_profile(REPO / "profiles" / "simulated.yaml").profile
OWNER = "FB433810"  # on the local card list of profiles/simulated.yaml
CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=0.3)
METER_UNIT = PROFILE.metering.internal_meter.modbus_address
S = EvseState


def on_virtual_time(tmp_path: Path, scenario: Callable[[VirtualCharger], Awaitable[None]]) -> None:
    """Run `scenario` against a charger whose service loops all run on virtual time."""
    loop = VirtualTimeLoop()
    charger = VirtualCharger(PROFILE, tmp_path / "chargeos.db", CAR, LoopTime(loop=loop))
    try:
        loop.run_until_complete(scenario(charger))
    finally:
        charger.close()
        loop.close()


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Virtual seconds until `condition` holds; fails after `timeout_s`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.001)
    return loop.time() - started


async def start_charging(charger: VirtualCharger) -> None:
    """Plug in, hold the owner's card, wait for the contactor to close."""
    await asyncio.sleep(0.5)
    charger.station.car.plug_in()
    await asyncio.sleep(0.3)
    charger.chips.rfid.present_card(OWNER)
    await asyncio.sleep(0.4)
    charger.chips.rfid.remove_card()
    await until(lambda: charger.station.board.contactor_closed, 10, "contactor closes")


def error_codes(charger: VirtualCharger) -> set[str]:
    return {fault.spec.ocpp_error_code for fault in charger.controller.faults.active}


# ----- item 1: the board's watchdog proves the control loop -----------------------------------


def test_a_hung_control_step_lets_the_board_watchdog_open_the_contactor(tmp_path: Path) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        board = charger.station.board
        async with charger.serving():
            await start_charging(charger)
            async with charger.controller.lock:  # the control step hangs after its poll
                took = await until(lambda: not board.contactor_closed, 10, "watchdog opens")
                assert board.watchdog_tripped
                assert board.pilot_duty_permille == PWM_OFF_PERMILLE
        assert took <= WATCHDOG_S + CONTACTOR_DELAY_S + TICK_PERIOD_S

    on_virtual_time(tmp_path, scenario)


# ----- item 2: the power board always gets the bus in time ----------------------------------


def test_a_flaky_meter_never_delays_a_board_poll_beyond_one_poll_period(tmp_path: Path) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        board, polls = charger.station.board, []
        original = board.read_input_registers
        loop = asyncio.get_running_loop()

        def watched(address: int, count: int) -> list[int]:
            polls.append(loop.time())
            return original(address, count)

        board.read_input_registers = watched  # type: ignore[method-assign]
        async with charger.serving():
            await start_charging(charger)
            charger.bus.set_flaky(METER_UNIT, True)
            polls.clear()
            await asyncio.sleep(10)
            assert board.contactor_closed  # never three meter failures in a row: no fault
        gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
        assert max(gaps) <= 2 * POLL_PERIOD_S + 1e-9, f"longest gap {max(gaps):.3f} s"

    on_virtual_time(tmp_path, scenario)


def test_c_to_b_opens_the_contactor_within_100_ms_even_with_a_flaky_meter(tmp_path: Path) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        station, board, worst = charger.station, charger.station.board, 0.0
        async with charger.serving():
            await start_charging(charger)
            charger.bus.set_flaky(METER_UNIT, True)
            for trial in range(16):  # each at another phase of the meter's 1 s schedule
                await asyncio.sleep(0.5 + 0.0617 * trial)
                station.car.become_full()
                station.tick(0.0)  # the board sees B now
                took = await until(lambda: not board.contactor_closed, 2, "contactor opens")
                worst = max(worst, took)
                station.car.plug_in()  # wants energy again: back to C
                await until(lambda: board.contactor_closed, 10, "contactor closes again")
        assert worst <= CONTACTOR_OFF_AFTER_EV_STOP_S, f"worst {worst * 1000:.0f} ms"

    on_virtual_time(tmp_path, scenario)


# ----- item 3: a hung board is a fault ----------------------------------------------------


def test_a_hung_board_is_an_internal_error_that_opens_the_contactor(tmp_path: Path) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        board = charger.station.board
        async with charger.serving():
            await start_charging(charger)
            board.hang()
            await until(lambda: not board.contactor_closed, 1, "contactor opens")
            assert "InternalError" in error_codes(charger)
            assert charger.controller.machine.state is S.FAULTED
            await until(lambda: charger.transactions.active(1) is None, 1, "transaction ends")
            await asyncio.sleep(3)
            assert charger.controller.machine.state is S.FAULTED  # still hung: still a fault
            assert board.watchdog_tripped  # starved too, in case its firmware ignored "open"
            board.resume()
            await until(lambda: "InternalError" not in error_codes(charger), 1, "fault clears")
            await until(lambda: charger.controller.machine.state is S.CONNECTED, 1, "recovers")
            assert not board.contactor_closed  # a session never resumes by itself

    on_virtual_time(tmp_path, scenario)


# ----- item 5: an internal error stops charging at once -------------------------------------


def test_an_error_inside_a_transition_stops_charging_at_once_with_an_internal_error(
    tmp_path: Path,
) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        board, controller = charger.station.board, charger.controller
        event_log = EventLog(charger.database)
        async with charger.serving():
            recording = asyncio.create_task(
                record_events(controller.events, event_log, charger.time.now)
            )
            await start_charging(charger)
            broken = [True]

            def listener(source: EvseState, destination: EvseState) -> None:
                if broken[0]:
                    raise RuntimeError(f"display update failed on {destination.value}")

            controller.machine.listeners.append(listener)
            charger.station.car.become_full()  # CHARGING -> SUSPENDED_EV raises
            took = await until(lambda: not board.contactor_closed, 1, "contactor opens")
            assert took <= 2 * POLL_PERIOD_S + CONTACTOR_DELAY_S  # no 6 s grace
            assert board.pilot_duty_permille == PILOT_FAULT_PERMILLE  # -12 V, not +12 V
            assert "InternalError" in error_codes(charger)
            await asyncio.sleep(1)
            assert controller.machine.state is S.FAULTED  # the next cycle does not leave it
            broken[0] = False
            await until(lambda: controller.machine.state is S.CONNECTED, 30, "recovers")
            await asyncio.sleep(0.2)
            recording.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recording
        messages = [entry.message for entry in event_log.recent(20)]
        assert any("RuntimeError: display update failed" in text for text in messages), messages
        assert charger.transactions.recent(1)[0].stop_reason == "EmergencyStop"

    on_virtual_time(tmp_path, scenario)


# ----- item 9: shutdown is recorded truly ---------------------------------------------------


class _Writes:
    """Every command the board receives, with what the car presented at that moment."""

    def __init__(self, charger: VirtualCharger) -> None:
        self.seen: list[tuple[int, tuple[int, ...], CpState]] = []
        board, car = charger.station.board, charger.station.car
        original = board.write_holding_registers

        def watched(address: int, values: Sequence[int]) -> None:
            self.seen.append((address, tuple(values), car.cp_state))
            original(address, values)

        board.write_holding_registers = watched  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("how", "reason"),
    [("hard", "HardReset"), ("soft", "SoftReset"), ("sigterm", "Reboot")],
)
def test_shutdown_stops_the_pwm_waits_for_the_car_then_opens_and_records_the_reason(
    tmp_path: Path, how: str, reason: str
) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        writes = _Writes(charger)
        async with charger.serving() as stop:
            await start_charging(charger)
            writes.seen.clear()
            commands = Commands(charger.controller, stop)
            if how == "sigterm":
                stop.set()
            elif how == "hard":
                assert await commands.reset("hard") == "Accepted"
            else:
                assert await commands.reset("soft") == "Accepted"
        pwm_off = next(
            i
            for i, (register, values, _) in enumerate(writes.seen)
            if register == reg.HR_PWM_DUTY and values[0] == PWM_OFF_PERMILLE
        )
        opened = next(
            i
            for i, (register, values, _) in enumerate(writes.seen)
            if register == reg.HR_CONTACTOR and values[0] == 0
        )
        assert pwm_off < opened
        assert writes.seen[opened][2] is CpState.B  # the car had stopped drawing
        assert not charger.station.board.contactor_command
        ended = charger.transactions.recent(1)[0]
        assert ended.stop_reason == reason

    on_virtual_time(tmp_path, scenario)


def test_shutdown_opens_the_contactor_after_6_s_when_the_car_keeps_drawing(
    tmp_path: Path,
) -> None:
    async def scenario(charger: VirtualCharger) -> None:
        board = charger.station.board
        async with charger.serving() as stop:
            await start_charging(charger)
            charger.station.car.spec = CarSpec(
                phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=60
            )
            loop = asyncio.get_running_loop()
            stopped_at = loop.time()
            stop.set()
        assert not board.contactor_command
        took = loop.time() - stopped_at
        assert took <= FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S + 2 * POLL_PERIOD_S
        assert charger.transactions.recent(1)[0].stop_reason == "Reboot"

    on_virtual_time(tmp_path, scenario)


@pytest.mark.parametrize(("board_lost_power", "reason"), [(True, "PowerLoss"), (False, "Reboot")])
def test_a_session_left_open_by_a_restart_ends_by_power_loss_only_if_the_board_lost_power(
    tmp_path: Path, board_lost_power: bool, reason: str
) -> None:
    async def scenario() -> None:
        charger = VirtualCharger(PROFILE, tmp_path / "chargeos.db", CAR)
        try:
            await start_controller(charger.controller)  # arms the board's watchdog
            await charger.advance(0.3)
            charger.station.car.plug_in()
            await charger.advance(0.3)
            charger.chips.rfid.present_card(OWNER)
            await charger.advance(0.4)
            charger.chips.rfid.remove_card()
            await charger.advance(1.0)
            assert charger.transactions.active(1) is not None  # the service dies here
            if board_lost_power:
                charger.station.board.power_cycle()
            await start_controller(charger.controller)  # what the restarted service does first
            assert charger.transactions.recent(1)[0].stop_reason == reason
        finally:
            charger.close()

    asyncio.run(scenario())
