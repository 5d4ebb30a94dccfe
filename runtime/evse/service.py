"""The `evse` service's lifecycle: start the devices, run the loops, stop safely.

Each loop runs its step at a fixed period and survives anything its step raises (logged);
the control loop, if it keeps failing, drives the power board to the safe state directly. Only a
completed control step feeds the board's watchdog. Stopping ends a session as IEC 61851-1
wants it: PWM off, the car's time to stop drawing, contactor open, then the transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from runtime.evse.commands import Commands
from runtime.evse.controller import (
    CARD_PERIOD_S,
    METER_PERIOD_S,
    POLL_PERIOD_S,
    TILT_PERIOD_S,
    Controller,
)
from runtime.evse.faults import FaultKind
from runtime.evse.iec61851 import FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S, PWM_OFF_PERMILLE
from runtime.evse.latches import POWER_UP_WATCHDOG_S, arm_watchdog
from runtime.evse.liveness import WATCHDOG_S
from runtime.evse.machine import StopSession
from runtime.evse.storage_guard import STORAGE_PERIOD_S
from runtime.hardware.errors import DeviceError
from runtime.hardware.types import CpState
from runtime.persistence.event_log import EventLog
from runtime.persistence.transaction_records import StopReason
from runtime.persistence.transactions import TransactionStore

log = logging.getLogger(__name__)

LED_PERIOD_S = 0.1
CONTROL_FAILURES_BEFORE_SAFE_STATE = 3
RELOAD_CHECK_S = 0.5
# IEC 61851-1 Table A.3: a car draws current only in C or D; in B it has stopped.
DRAWING_STATES = frozenset({CpState.C, CpState.D})


@dataclass(frozen=True)
class EvseContext:
    """Everything the local API needs from the running service."""

    controller: Controller
    commands: Commands
    transactions: TransactionStore
    event_log: EventLog


async def start_controller(controller: Controller) -> None:
    """Probe the devices, arm the board's watchdog and close sessions a restart left open.

    Arming first checks whether the board was power-cycled since evse last armed it: only that
    clears the power-cycle latches (RCM, welded contactor) restored from the data partition,
    and a session left open then ended by PowerLoss, else by Reboot (only evse or the OS
    restarted).
    """
    devices = controller.devices
    reason = StopReason.REBOOT
    try:
        controller.board_info = await devices.power_board.probe()
        if await devices.power_board.read_watchdog() == POWER_UP_WATCHDOG_S:
            reason = StopReason.POWER_LOSS
        await arm_watchdog(devices.power_board, controller.faults, controller.lock, WATCHDOG_S)
    except DeviceError as error:
        log.error("power board: %s", error)
    closed = await controller.sessions.recover(await controller.fresh_meter(), reason)
    for transaction in closed:
        log.warning("closed transaction %s left open by a restart", transaction.transaction_id)
    profile = controller.profile
    if devices.rfid is not None and profile.authorization.rfid_enabled:
        try:
            await devices.rfid.probe()
        except DeviceError as error:
            log.error("RFID reader: %s", error)
            controller.faults.report(FaultKind.RFID_READER, True, str(error))
    if devices.accelerometer is not None and profile.safety.tilt_bump.enabled:
        try:
            await devices.accelerometer.probe()
        except DeviceError as error:
            controller.accelerometer_watch.lost(str(error))  # no energy without tilt protection
    try:
        await devices.led.probe()
    except DeviceError as error:
        controller.led_watch.lost(str(error))  # charging works; the General page warns


async def run_controller(controller: Controller, stop: asyncio.Event) -> None:
    """Run every loop until `stop` is set, then leave the charger safe."""
    loops = [
        _every(POLL_PERIOD_S, controller.control_step, stop, on_failures=_safe_state(controller)),
        _every(METER_PERIOD_S, controller.meter_step, stop),
        _every(STORAGE_PERIOD_S, controller.storage_step, stop),
        _every(CARD_PERIOD_S, controller.card_step, stop),
        _every(TILT_PERIOD_S, controller.tilt_step, stop),
        _every(LED_PERIOD_S, controller.led_step, stop),
        _every(RELOAD_CHECK_S, _reload_when_idle(controller, stop), stop),
    ]
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await shutdown_controller(controller)


async def shutdown_controller(controller: Controller) -> None:
    """End any session with the true reason: PWM off, wait for the car, open, record."""
    reason = controller.shutdown_reason
    sessions = controller.sessions
    async with controller.lock:
        controller.machine.stop(reason)
        for effect in controller.machine.take_effects():  # a reset's stop may still be queued
            if isinstance(effect, StopSession) and not sessions.stopping:
                sessions.request_stop(effect.reason)
    if sessions.active is not None and not sessions.stopping:
        sessions.request_stop(reason)
    await _open_after_the_car_stopped(controller)
    if sessions.active is not None:
        await sessions.finish(await controller.fresh_meter())
    if sessions.unwritten and not await sessions.retry():
        log.error(
            "%d billing records not written at shutdown (%s); the next start closes the"
            " transaction at its last recorded meter value",
            sessions.unwritten,
            sessions.failure,
        )


async def _open_after_the_car_stopped(controller: Controller) -> None:
    """PWM off; while the car still asks (C or D), keep polling and feeding for up to 6 s."""
    board, clock = controller.devices.power_board, controller.clock
    with contextlib.suppress(DeviceError):
        await board.set_pwm(PWM_OFF_PERMILLE)
    # IEC 61851-1 Table A.6 seq. 10.2: after PWM off the EV gets 6 s to stop drawing (C -> B).
    deadline = clock.monotonic() + FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S
    while controller.governor.outputs.contactor_closed and clock.monotonic() < deadline:
        try:
            status = await board.read_status()
            if status.cp_state not in DRAWING_STATES:
                break
            await board.set_watchdog(WATCHDOG_S)  # this loop is alive: poll, decide, write
        except DeviceError as error:
            log.warning("power board while waiting for the car to stop: %s", error)
        await asyncio.sleep(POLL_PERIOD_S)
    with contextlib.suppress(DeviceError):
        await board.set_contactor(False)


def _safe_state(controller: Controller) -> Callable[[], Awaitable[None]]:
    async def safe() -> None:
        board = controller.devices.power_board
        with contextlib.suppress(DeviceError):
            await board.set_contactor(False)
            await board.set_pwm(PWM_OFF_PERMILLE)

    return safe


def _reload_when_idle(controller: Controller, stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        idle = not controller.machine.in_session and not controller.sessions.stopping
        if controller.reload_requested and idle:
            log.info("restarting to apply the changed profile")
            stop.set()

    return check


async def _every(
    period_s: float,
    step: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    on_failures: Callable[[], Awaitable[None]] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    failures = 0
    next_at = loop.time()
    while not stop.is_set():
        try:
            await step()
            failures = 0
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # a driver's wait_for (3.11) swallowed our cancel
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one step must not stop the charger's loops
            failures += 1
            log.exception("%s failed (%d in a row)", getattr(step, "__name__", step), failures)
            if on_failures is not None and failures >= CONTROL_FAILURES_BEFORE_SAFE_STATE:
                await on_failures()
        next_at = max(next_at + period_s, loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=next_at - loop.time())
