"""No transaction row, no energy: what the controller does while the data partition fails.

A start whose row cannot be written leaves the session state before any output changes and is
retried once storage works, if the same car is still plugged in. A write that fails mid-session
ends the session gently (pilot off, then the contactor). The storage fault follows once the
contactor is commanded open and blocks new sessions until a retried write succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from runtime.evse.faults import FaultKind, FaultTracker
from runtime.evse.indicator import Indicator
from runtime.evse.machine import SessionMachine
from runtime.evse.sessions import SessionKeeper, StartOutcome
from runtime.evse.states import EvseState, LedColour
from runtime.evse.storage_backoff import StorageBackoff
from runtime.hardware.types import CpState

log = logging.getLogger(__name__)

STORAGE_PERIOD_S = 0.5  # finer than the first storage retry delay, so retries come on time


class StorageGuard:
    """Keeps the machine out of sessions that storage cannot record, and retries storage."""

    def __init__(
        self,
        machine: SessionMachine,
        faults: FaultTracker,
        sessions: SessionKeeper,
        indicator: Indicator,
        clock: Callable[[], float],
    ) -> None:
        self._machine = machine
        self._faults = faults
        self._sessions = sessions
        self._indicator = indicator
        self._clock = clock
        self._backoff = StorageBackoff()
        self._pending_start: str | None = None  # accepted, but its row could not be written

    def started(self, outcome: StartOutcome, id_tag: str) -> None:
        """Act on a start attempt: without a row, end the session state at once."""
        if outcome is StartOutcome.STARTED:
            self._backoff.reset()
            return
        if outcome is StartOutcome.STORAGE_FAILED:
            self._pending_start = id_tag  # guard() raises the fault that explains it
        elif outcome is StartOutcome.NO_METER:
            self._faults.report(FaultKind.METER, True, "no meter reading to start on")
        else:
            self._indicator.blink(LedColour.RED)
        self._machine.stop("Other")
        self._sync()

    def guard(self, contactor_commanded: bool) -> None:
        """While billing data cannot be written: end the session, then raise the fault.

        The machine's normal stop applies: the pilot stops offering current at once and the
        contactor opens when the car stops drawing, at most 6 s later; the storage fault is
        raised as soon as the contactor is commanded open, so it never stands while energised.
        """
        failure = self._sessions.failure
        if failure is None:
            return
        if self._machine.in_session:
            self._machine.stop("Other")
        if not contactor_commanded:
            self._faults.report(FaultKind.STORAGE, True, str(failure))
        self._sync()

    def resume_pending_start(self) -> None:
        """Storage works again: start the session it refused, if the same car is still there."""
        id_tag, machine = self._pending_start, self._machine
        if id_tag is None:
            return
        if machine.inputs.cp is CpState.A or machine.state is EvseState.AVAILABLE:
            self._pending_start = None  # the car left: a new car needs a new authorization
        elif machine.state is EvseState.CONNECTED:
            self._pending_start = None
            machine.authorize(id_tag)
            machine.sync()

    async def retry(self) -> bool:
        """Retry storage when the backoff says so; True when it works again (clear the fault)."""
        if self._sessions.failure is None:
            return False
        now = self._clock()
        if not self._backoff.due(now):
            return False
        if await self._sessions.retry():
            return True
        self._backoff.failed(now)
        log.warning(
            "storage still fails; next try in %.0f s: %s",
            self._backoff.delay_s,
            self._sessions.failure,
        )
        return False

    def _sync(self) -> None:
        self._machine.inputs.faults = self._faults.kinds
        self._machine.sync()
