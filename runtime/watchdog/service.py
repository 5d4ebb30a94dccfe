"""The watchdog's loop: hear heartbeats, ask supervisord what runs, restart the hung, feed systemd.

A hung process cannot stop itself cleanly, so it is killed (SIGKILL through supervisord, whose
`autorestart` starts it again at once) and the restart is recorded in the event log. systemd is
told `WATCHDOG=1` only after supervisord answered in this round: a frozen supervisord or watchdog
goes silent, and systemd's `WatchdogSec` restarts chargeos.service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runtime import heartbeat
from runtime.persistence.database import Database
from runtime.persistence.errors import PersistenceError
from runtime.persistence.event_log import EventLevel, EventLog
from runtime.supervisor import ProgramState, Supervisor, SupervisorUnavailable
from runtime.watchdog.hangs import HUNG_AFTER_S, START_GRACE_S, Hang, HangDetector

log = logging.getLogger("runtime.watchdog")

# One round every 5 s, as often as the services beat: a hang is found at most 5 s past its bound.
CHECK_S = 5.0
# supervisord answers its XML-RPC in milliseconds; one that takes this long counts as not
# answering in this round (six such rounds in a row outlast chargeos.service's WatchdogSec=30s).
SUPERVISOR_TIMEOUT_S = 5.0
EVENT_SOURCE = "watchdog"
HUNG_CODE = "SERVICE_HUNG"
CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
DATAGRAM_MAX = 256


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WatchdogSettings:
    """What the watchdog watches and its bounds."""

    data_dir: Path
    watched: Collection[str]
    hung_after_s: float = HUNG_AFTER_S
    start_grace_s: float = START_GRACE_S
    check_s: float = CHECK_S
    notify_socket: str | None = None  # systemd's NOTIFY_SOCKET; None under `make run`
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=_utc_now)


def notify_systemd(address: str | None, message: bytes = b"WATCHDOG=1") -> None:
    """sd_notify: one datagram to systemd's socket (an address starting with @ is abstract)."""
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        try:
            sender.sendto(message, target)
        except OSError as error:
            log.warning("systemd's notify socket %s refused %r: %s", address, message, error)


@contextlib.contextmanager
def heartbeat_socket(path: Path) -> Iterator[socket.socket]:
    """The datagram socket the services beat to, telling the sender's pid with each message."""
    path.unlink(missing_ok=True)  # left by a watchdog that was killed
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        receiver.bind(str(path))
        receiver.setblocking(False)
        yield receiver
    finally:
        receiver.close()
        path.unlink(missing_ok=True)


def sender_pids(receiver: socket.socket) -> list[int]:
    """Read every waiting heartbeat; the pids the kernel vouches for."""
    pids: list[int] = []
    while True:
        try:
            message, ancillary, _flags, _address = receiver.recvmsg(
                DATAGRAM_MAX, socket.CMSG_SPACE(CREDENTIALS.size)
            )
        except BlockingIOError:
            return pids
        if message.strip() != heartbeat.MESSAGE:
            continue
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pids.append(CREDENTIALS.unpack(data[: CREDENTIALS.size])[0])


class Watchdog:
    """One watchdog over one supervisord."""

    def __init__(self, settings: WatchdogSettings) -> None:
        """Watch `settings.watched` under the supervisord of `settings.data_dir`."""
        self._settings = settings
        self._detector = HangDetector(
            settings.watched, settings.hung_after_s, settings.start_grace_s
        )
        self._supervisor = Supervisor(settings.data_dir / "run" / "supervisor.sock")

    def heard(self, receiver: socket.socket) -> None:
        """Take in the heartbeats waiting on `receiver`."""
        now = self._settings.monotonic()
        for pid in sender_pids(receiver):
            self._detector.heard(pid, now)

    async def round(self) -> list[Hang]:
        """Ask supervisord, restart the hung, feed systemd if supervisord answered; the hangs."""
        programs = await self._programs()
        if programs is None:
            return []
        hangs = self._detector.hung(programs, self._settings.monotonic())
        for hang in hangs:
            await self._restart(hang)
        notify_systemd(self._settings.notify_socket)
        return hangs

    async def _programs(self) -> list[ProgramState] | None:
        try:
            return await asyncio.wait_for(self._supervisor.programs(), SUPERVISOR_TIMEOUT_S)
        except (SupervisorUnavailable, TimeoutError) as error:
            log.warning("supervisord does not answer (%s); systemd is not told we are alive", error)
            return None

    async def _restart(self, hang: Hang) -> None:
        message = f"{hang.name} (pid {hang.pid}) hung: {hang.reason}; killed and restarted"
        log.warning("%s", message)
        try:
            outcome = await asyncio.wait_for(
                self._supervisor.signal(hang.name, "KILL"), SUPERVISOR_TIMEOUT_S
            )
        except (SupervisorUnavailable, TimeoutError) as error:
            log.error("%s: could not signal it (%s); trying again next round", hang.name, error)
            return
        log.info("%s", outcome)
        await asyncio.to_thread(self._record, hang, message)

    def _record(self, hang: Hang, message: str) -> None:
        try:
            with Database.open(self._settings.data_dir / "chargeos.db") as database:
                EventLog(database).append(
                    EVENT_SOURCE,
                    EventLevel.WARNING,
                    HUNG_CODE,
                    message,
                    now=self._settings.now(),
                    data={"program": hang.name, "pid": hang.pid},
                )
        except PersistenceError as error:
            log.error("the restart of %s is not in the event log: %s", hang.name, error)


async def serve(settings: WatchdogSettings, stop: asyncio.Event) -> None:
    """Run rounds every `check_s` until `stop` is set, hearing heartbeats in between."""
    watchdog = Watchdog(settings)
    loop = asyncio.get_running_loop()
    with heartbeat_socket(heartbeat.socket_path(settings.data_dir)) as receiver:
        loop.add_reader(receiver.fileno(), watchdog.heard, receiver)
        try:
            log.info("watching %s", ", ".join(sorted(settings.watched)))
            while not stop.is_set():
                await watchdog.round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.check_s)
        finally:
            loop.remove_reader(receiver.fileno())


def settings_from_environment(data_dir: Path, watched: Collection[str]) -> WatchdogSettings:
    """Settings with systemd's notify socket, when systemd started us (NOTIFY_SOCKET)."""
    return WatchdogSettings(data_dir, watched, notify_socket=os.environ.get("NOTIFY_SOCKET"))
