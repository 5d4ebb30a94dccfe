"""A service's heartbeat to the ChargeOS watchdog: sd_notify's `WATCHDOG=1`, from the event loop.

Each asyncio service runs `beating(data_dir)` around its work; a task of its own loop sends one
datagram every HEARTBEAT_S to DATA/run/watchdog.sock, so a blocked loop or a stopped process goes
silent and `runtime.watchdog` restarts it. The watchdog knows the sender by its kernel-given pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Six beats fit in the watchdog's HUNG_AFTER_S (30 s): a loop merely slowed by a long SQLite
# commit or a garbage collection never looks hung, one that stands still is found in 30-35 s.
HEARTBEAT_S = 5.0
MESSAGE = b"WATCHDOG=1"  # sd_notify's keep-alive, so the protocol reads as systemd's


def socket_path(data_dir: Path) -> Path:
    """Where the watchdog listens for heartbeats."""
    return data_dir / "run" / "watchdog.sock"


def send(path: Path, message: bytes = MESSAGE) -> bool:
    """Send one datagram to `path`; False (and nothing raised) when nobody listens there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)  # a full queue drops a beat instead of blocking the loop
        try:
            sender.sendto(message, str(path))
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
            return False
    return True


async def beat_forever(path: Path, interval_s: float = HEARTBEAT_S) -> None:
    """Send a heartbeat every `interval_s`; say once when the watchdog is not listening."""
    unheard = False
    while True:
        heard = send(path)
        if not heard and not unheard:
            log.info("no watchdog listens on %s; heartbeats continue unheard", path)
        unheard = not heard
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def beating(data_dir: Path, interval_s: float = HEARTBEAT_S) -> AsyncIterator[None]:
    """Send heartbeats from the running loop while the block runs."""
    task = asyncio.create_task(beat_forever(socket_path(data_dir), interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def while_beating(data_dir: Path, work: Coroutine[Any, Any, T]) -> T:
    """Run a service's `work` with heartbeats flowing; its result."""
    async with beating(data_dir):
        return await work
