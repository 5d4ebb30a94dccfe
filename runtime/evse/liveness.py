"""Liveness on both sides of the internal bus: the board's firmware, our control loop, our logic.

The board proves it runs by its heartbeat register; our control loop proves it runs by feeding
the board's watchdog at the end of each completed step; an exception inside the state machine
holds an internal-error fault until the controller has run clean for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from runtime.evse.faults import FaultKind, FaultTracker
from runtime.evse.iec61851 import PWM_OFF_PERMILLE
from runtime.evse.latches import board_was_power_cycled, clear_power_cycle_latches
from runtime.hardware.errors import DeviceError
from runtime.hardware.protocols import PowerBoard
from runtime.hardware.types import PowerBoardStatus

log = logging.getLogger(__name__)

# The board opens the contactor and stops the PWM on its own when no write came for this long.
# Its register counts whole seconds. 1 s would leave a slow but healthy step (an SQLite commit
# on a worn SD card inside the step, a long garbage collection) under 0.5 s of margin and open
# the contactor under load; 3 s kept a dead loop's contactor closed a second longer than needed.
WATCHDOG_S = 2
# Fed only at the end of a completed control step, at most this often (one Modbus write per
# 10 polls): a loop that stops for WATCHDOG_S - WATCHDOG_FEED_S (1.5 s) or more trips it.
WATCHDOG_FEED_S = 0.5
# The board counts its heartbeat once per firmware cycle, far faster than our 50 ms poll: the
# same value in this many polls after the first (150 ms, as for a silent board) is a hang.
BOARD_HUNG_AFTER = 3
# An internal error stays a fault until no transition raised for this long: a bug that fires
# on every retry then costs at most one contactor operation per 10 s, the owner sees red long
# enough to notice, and a car that kept drawing has had more than Table A.6 seq. 10.2's 6 s.
INTERNAL_ERROR_CLEAN_S = 10.0


class HeartbeatWatch:
    """Counts polls in which the board's heartbeat did not move."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._unchanged = 0

    def judge(self, status: PowerBoardStatus, faults: FaultTracker) -> PowerBoardStatus | None:
        """The poll if the board's firmware runs; None (and a fault) while its heartbeat stands."""
        self._unchanged = self._unchanged + 1 if status.heartbeat == self._last else 0
        self._last = status.heartbeat
        hung = self._unchanged >= BOARD_HUNG_AFTER
        detail = f"heartbeat stuck at {status.heartbeat} for {self._unchanged} polls"
        faults.report(FaultKind.BOARD_HUNG, hung, detail)
        return None if hung else status  # frozen measurements say nothing about car or contactor

    def forget(self) -> None:
        """The board did not answer: the next answer starts a new count."""
        self._last, self._unchanged = None, 0


class BoardLiveness:
    """Each poll: is the board's firmware alive, did it drop our outputs; then prove ours."""

    def __init__(self, board: PowerBoard, faults: FaultTracker, clock: Callable[[], float]) -> None:
        self._board = board
        self._faults = faults
        self._heartbeat = HeartbeatWatch()
        self._watchdog = WatchdogFeed(clock)

    def judge(self, answered: PowerBoardStatus | None) -> PowerBoardStatus | None:
        """The poll to act on: None when the board was silent or its heartbeat stands still."""
        if answered is None:
            self._heartbeat.forget()
            return None
        return self._heartbeat.judge(answered, self._faults)

    @staticmethod
    def dropped_outputs(status: PowerBoardStatus, commanded_duty: int | None) -> bool:
        """True when the board went back to steady +12 V on its own (watchdog or restart)."""
        dropped = status.pwm_duty_permille == PWM_OFF_PERMILLE
        if dropped and commanded_duty not in (None, PWM_OFF_PERMILLE):
            log.warning("the power board reset its outputs (watchdog or restart); resending")
            return True
        return False

    async def prove_alive(self) -> None:
        """The last act of a completed step: feed the watchdog (never a hung board's).

        A hung board is starved: should its firmware ignore our "open", its own watchdog opens
        the contactor within WATCHDOG_S.
        """
        if FaultKind.BOARD_HUNG not in self._faults.kinds:
            await self._watchdog.feed(self._board, self._faults)


class WatchdogFeed:
    """When the next completed control step should feed the board's watchdog."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._fed_at = float("-inf")

    async def feed(self, board: PowerBoard, faults: FaultTracker) -> None:
        """Feed the watchdog if the last feed is WATCHDOG_FEED_S old (end of a completed step)."""
        if self._clock() - self._fed_at < WATCHDOG_FEED_S:
            return
        # Checked before the write erases the sign: a board found with its watchdog off was
        # power-cycled, and its RCM and weld latches went with it (the step holds the lock).
        if await board_was_power_cycled(board):
            clear_power_cycle_latches(faults)
        try:
            await board.set_watchdog(WATCHDOG_S)
        except DeviceError as error:
            log.warning("power board watchdog not fed: %s", error)
            return
        self._fed_at = self._clock()


class InternalErrorHold:
    """Remembers the last internal error; holds its fault for INTERNAL_ERROR_CLEAN_S after it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last_at: float | None = None

    def judge(self, errors: Sequence[str], faults: FaultTracker) -> None:
        """Raise the InternalError fault for new errors; clear it after a clean spell."""
        now = self._clock()
        for summary in errors:
            self._last_at = now
            faults.report(FaultKind.INTERNAL, True, summary)
        clean = self._last_at is None or now - self._last_at >= INTERNAL_ERROR_CLEAN_S
        faults.report(FaultKind.INTERNAL, not clean)
