"""The virtual-time loop the fail-safe tests run on: time jumps only when nothing but timers is
left, and work handed to a thread holds the clock until its result is back on the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from tests.runtime.evse.virtual_loop import VirtualTimeLoop

T = TypeVar("T")
LATE_S = 0.05  # real seconds between a job's end and its result reaching the loop


class LateDelivery(Executor):
    """Runs each job on its own thread and completes its future LATE_S after the job ended:
    a worker thread preempted between finishing and reporting back, as on a loaded machine."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            result = fn(*args, **kwargs)
            time.sleep(LATE_S)
            future.set_result(result)

        threading.Thread(target=run, daemon=True).start()
        return future


def run(main: Callable[[], Any]) -> Any:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_timers_alone_jump_virtual_time_at_once() -> None:
    async def main() -> tuple[float, float]:
        loop, real = asyncio.get_running_loop(), time.monotonic()
        await asyncio.sleep(3600)
        return loop.time(), time.monotonic() - real

    virtual_s, real_s = run(main)
    assert virtual_s >= 3600
    assert real_s < 60  # an hour of virtual time is not waited out


def test_a_job_whose_result_comes_back_late_holds_the_clock() -> None:
    """While a job's result has not reached the loop, a pending timer must not fire: the job
    would otherwise look as if it took the timer's virtual seconds (a bus reply 'timing out')."""

    async def main() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        timer = asyncio.ensure_future(asyncio.sleep(5))  # e.g. a watchdog waiting elsewhere
        started = loop.time()
        await loop.run_in_executor(LateDelivery(), sum, (1, 2))
        took = loop.time() - started
        fired = timer.done()
        timer.cancel()
        return took, fired

    took, fired = run(main)
    assert not fired
    assert took < 0.01


def test_to_thread_holds_the_clock_until_its_result_is_back() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        timer = asyncio.ensure_future(asyncio.sleep(5))
        started = loop.time()
        for _ in range(200):
            await asyncio.to_thread(time.sleep, 0.001)
        timer.cancel()
        return loop.time() - started

    assert run(main) < 0.01
