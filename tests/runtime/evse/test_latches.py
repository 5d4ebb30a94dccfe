"""Latched faults and the tilt calibration outlive a restart of evse (manual 5.4).

Each test restarts the controller on the same data directory while the simulated board, meter
and chips keep running: a tilt stays red until an installer clears it, the rest position is the
one calibrated before the restart, and only a power cycle of the power board clears an RCM trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from runtime.evse.client import EvseClient, EvseUnavailable
from runtime.evse.commands import Commands
from runtime.evse.faults import FaultKind
from runtime.evse.states import EvseState as S
from runtime.evse.states import LedColour
from runtime.evse.status import EvseStatus
from tests.runtime.evse.harness import SIMULATED, Rig, running_charger
from tests.runtime.evse.test_crash import sim_command, spawn

SETTLE_S = 0.5  # several accelerometer samples (every 100 ms) and LED refreshes
UPRIGHT_DEG = 0.0
SLIGHT_LEAN_DEG = 12.0  # below the simulated profile's Tilt Angle (20°)
STEEP_LEAN_DEG = 45.0
PROCESS_POLLS = 300  # x 0.1 s: a process start under load is slow
PROCESS_POLL_S = 0.1


def commands(rig: Rig) -> Commands:
    """The commands of the running controller (what the local API calls)."""
    return Commands(rig.controller, asyncio.Event())


async def calibrated_green(rig: Rig) -> None:
    """The charger has started and taken its first rest position."""
    await rig.until_led(LedColour.GREEN)
    await rig.until(lambda: rig.controller.tilt.calibrated)


def test_a_tilt_latched_before_a_restart_of_evse_is_still_latched_and_red_after_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await calibrated_green(rig)
            rig.chips.accelerometer.tilt(STEEP_LEAN_DEG)
            await rig.until_led(LedColour.RED)
            await rig.restart_evse()
            await asyncio.sleep(SETTLE_S)
            assert FaultKind.TILT in rig.controller.faults.kinds
            assert rig.state is S.FAULTED
            await rig.until_led(LedColour.RED)
            assert rig.controller.last_error_code == "OtherError"
            rig.chips.accelerometer.tilt(UPRIGHT_DEG)  # straightened: still latched
            await asyncio.sleep(SETTLE_S)
            assert rig.led() is LedColour.RED
            assert await commands(rig).clear_faults("installer") == "Accepted"
            await rig.until_led(LedColour.GREEN)
            await rig.restart_evse()  # the clear is kept too
            await rig.until_led(LedColour.GREEN)
            await asyncio.sleep(SETTLE_S)
            assert rig.controller.faults.kinds == frozenset()

    asyncio.run(scenario())


def test_after_a_restart_the_rest_position_is_the_calibrated_one_not_the_current_one(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await calibrated_green(rig)
            rig.chips.accelerometer.tilt(SLIGHT_LEAN_DEG)
            await asyncio.sleep(SETTLE_S)
            assert rig.led() is LedColour.GREEN  # within the Tilt Angle
            await rig.restart_evse()
            await rig.until_led(LedColour.GREEN)
            await asyncio.sleep(SETTLE_S)
            # 24° from upright, 12° from where the charger stood when evse restarted
            rig.chips.accelerometer.tilt(2 * SLIGHT_LEAN_DEG)
            await rig.until_led(LedColour.RED)
            assert FaultKind.TILT in rig.controller.faults.kinds

    asyncio.run(scenario())


def test_an_explicit_calibration_is_the_rest_position_after_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await calibrated_green(rig)
            rig.chips.accelerometer.tilt(SLIGHT_LEAN_DEG)
            assert await commands(rig).calibrate_tilt() == "Accepted"
            await asyncio.sleep(SETTLE_S)
            await rig.restart_evse()
            await rig.until_led(LedColour.GREEN)
            rig.chips.accelerometer.tilt(2 * SLIGHT_LEAN_DEG)  # 12° from the new rest position
            await asyncio.sleep(SETTLE_S)
            assert rig.led() is LedColour.GREEN
            rig.chips.accelerometer.tilt(SLIGHT_LEAN_DEG - 25.0)  # 25° the other way
            await rig.until_led(LedColour.RED)

    asyncio.run(scenario())


def test_a_power_cycle_of_the_board_clears_an_rcm_trip_that_a_restart_of_evse_keeps(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.start_charging()
            rig.station.board.inject_rcm_fault()
            await rig.until_led(LedColour.RED)
            await rig.until(lambda: not rig.station.board.contactor_closed, timeout_s=1)
            await rig.restart_evse()
            await asyncio.sleep(SETTLE_S)
            assert FaultKind.RCM in rig.controller.faults.kinds
            assert rig.led() is LedColour.RED
            assert await commands(rig).clear_faults("installer") == "Rejected"  # not this way
            assert FaultKind.RCM in rig.controller.faults.kinds
            rig.station.board.power_cycle()
            await rig.until(lambda: FaultKind.RCM not in rig.controller.faults.kinds)
            rig.unplug()
            await rig.until_led(LedColour.GREEN)

    asyncio.run(scenario())


def test_a_board_power_cycled_while_evse_was_down_is_noticed_at_its_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_charger(tmp_path) as rig:
            await rig.until_led(LedColour.GREEN)
            rig.station.board.inject_rcm_fault()
            await rig.until_led(LedColour.RED)
            await rig.restart_evse(while_down=rig.station.board.power_cycle)
            await rig.until_led(LedColour.GREEN)
            assert rig.controller.faults.kinds == frozenset()

    asyncio.run(scenario())


def test_a_tilt_stays_latched_and_red_across_a_kill_of_the_evse_process(tmp_path: Path) -> None:
    """SIGKILL, not a stop: the latch was on the data partition the moment it was raised."""
    (tmp_path / "log").mkdir()
    shutil.copy(SIMULATED, tmp_path / "profile.yaml")
    sim = spawn("runtime.sim", tmp_path, "serve")

    async def status_until(check: Callable[[EvseStatus], bool], what: str) -> EvseStatus:
        for _ in range(PROCESS_POLLS):
            with contextlib.suppress(EvseUnavailable, TimeoutError):
                async with EvseClient(tmp_path / "run" / "evse.sock", timeout_s=1.0) as client:
                    status = await client.status()
                if check(status):
                    return status
            await asyncio.sleep(PROCESS_POLL_S)
        raise AssertionError(f"evse never reported {what}")

    async def scenario() -> None:
        connector = aiohttp.UnixConnector(path=str(tmp_path / "run" / "sim.sock"))
        async with aiohttp.ClientSession(connector=connector) as sim_api:
            evse = spawn("runtime.evse", tmp_path)
            try:
                await status_until(lambda s: s.state == "available", "available")
                await asyncio.sleep(SETTLE_S)  # calibrated upright
                await sim_command(sim_api, "/fault", {"kind": "tilt"})
                await status_until(lambda s: s.led == "red", "the tilt fault")
            finally:
                evse.send_signal(signal.SIGKILL)
                evse.wait(timeout=10)
            evse = spawn("runtime.evse", tmp_path)  # the charger is still tilted
            try:
                status = await status_until(lambda s: s.state != "booting", "a state")
                await asyncio.sleep(SETTLE_S)
                status = await status_until(lambda s: True, "its status")
                assert (status.state, status.led) == ("faulted", "red")
                assert [fault.kind for fault in status.faults] == ["tilt"]
            finally:
                evse.send_signal(signal.SIGTERM)
                evse.wait(timeout=10)

    try:
        asyncio.run(scenario())
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
