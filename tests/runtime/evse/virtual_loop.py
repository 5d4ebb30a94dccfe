"""An asyncio event loop on virtual time: when nothing is ready, time jumps to the next timer.

The evse service's real concurrent loops (control, meter, card, LED) and the simulated
hardware's ticks run for virtual minutes in real milliseconds, every bus timeout and sleep in
virtual seconds, so contention between them is measured exactly. Work handed to a thread
(SQLite via `asyncio.to_thread`) holds the clock until its result is back in the loop.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# While a thread works, the loop waits for it in real slices this long, time standing still.
_THREAD_WAIT_S = 0.01


class _CountingExecutor(ThreadPoolExecutor):
    """Knows how many submitted jobs have not yet reported back to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(max_workers=4, thread_name_prefix="virtual-loop")
        self._loop = loop
        self._pending = 0
        self._guard = threading.Lock()

    @property
    def busy(self) -> bool:
        with self._guard:
            return self._pending > 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._guard:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        # Counted down on the loop, after the result is queued there (not when the thread ends).
        future.add_done_callback(lambda _: self._loop.call_soon_threadsafe(self._job_back))
        return future

    def _job_back(self) -> None:
        with self._guard:
            self._pending -= 1


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
        super().__init__(_VirtualSelector(self))
        self._counting_executor = _CountingExecutor(self)
        self.set_default_executor(self._counting_executor)

    def time(self) -> float:
        return self._virtual_s

    def advance(self, seconds: float) -> None:
        """Move virtual time on (the selector does this when only timers are left)."""
        self._virtual_s += seconds

    def threads_busy(self) -> bool:
        """True while a job handed to the default executor has not reported back."""
        return self._counting_executor.busy
