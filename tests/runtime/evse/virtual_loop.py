"""An asyncio event loop on virtual time: when nothing is ready, time jumps to the next timer.

The evse service's real concurrent loops (control, meter, card, LED) and the simulated
hardware's ticks run for virtual minutes in real milliseconds, every bus timeout and sleep in
virtual seconds, so contention between them is measured exactly. Work handed to a thread
(SQLite and the I2C bus via `asyncio.to_thread`, any executor) holds the clock until its result
has been set on the loop's future: counting it back when the thread ended instead left a window,
before the result reached the loop, in which time jumped to the next timer (a loaded machine
made the fail-safe tests flaky: "contactor closes: not within 10 s").
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")

# While a thread works, the loop waits for it in real slices this long, time standing still.
_THREAD_WAIT_S = 0.01


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real I/O without waiting; a wait for a timer advances virtual time instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._loop.threads_busy():
            return super().select(_THREAD_WAIT_S)
        events = super().select(0)
        if events or timeout is None or timeout <= 0:
            return events if events or timeout is not None else super().select(_THREAD_WAIT_S)
        self._loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """`loop.time()` is virtual; `run_until_complete` runs as fast as the CPU allows."""

    def __init__(self) -> None:
        self._virtual_s = 0.0
        self._jobs_out = 0  # executor jobs whose result has not been set on the loop yet
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self._virtual_s

    def advance(self, seconds: float) -> None:
        """Move virtual time on (the selector does this when only timers are left)."""
        self._virtual_s += seconds

    def run_in_executor(
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._jobs_out += 1
        # Runs on the loop, in the same batch as the awaiting task's wake-up, so that wake-up is
        # already queued when the count drops and the next select does not advance time.
        future.add_done_callback(self._job_back)
        return future

    def _job_back(self, _future: asyncio.Future[Any]) -> None:
        self._jobs_out -= 1

    def threads_busy(self) -> bool:
        """True while a job handed to an executor has not had its result set on the loop."""
        return self._jobs_out > 0
