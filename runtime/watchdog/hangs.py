"""Which running programs are hung: the heartbeats heard, by pid, against supervisord's list.

Pure bookkeeping with the time passed in, so every rule is testable without waiting: a program
is hung when its current process has been silent for `hung_after_s` since its last heartbeat, or
never sent one within `start_grace_s` of being seen running.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from runtime.supervisor import ProgramState

# runtime.heartbeat sends every 5 s: six beats missed in a row is a loop that stands still, not
# one slowed by a long commit or a collection (the power board's own 2 s watchdog has long since
# opened the contactor of a hung evse; this bound is about getting service back, not safety).
HUNG_AFTER_S = 30.0
# From being seen RUNNING to its first heartbeat a service loads its profile, opens its database
# and, for evse, waits up to 30 s for the simulator (SIM_START_TIMEOUT_S): a first boot under
# qemu's TCG on 2 vCPUs takes that long more than once, so twice it plus margin.
START_GRACE_S = 120.0


@dataclass(frozen=True)
class Hang:
    """A program found hung: its name, the silent process and why."""

    name: str
    pid: int
    reason: str


@dataclass
class _Tracked:
    pid: int
    seen_at: float


class HangDetector:
    """Heartbeats by pid, and the processes of the watched programs since they were first seen."""

    def __init__(
        self,
        watched: Collection[str],
        hung_after_s: float = HUNG_AFTER_S,
        start_grace_s: float = START_GRACE_S,
    ) -> None:
        """Watch the programs named `watched` (others are never judged)."""
        self._watched = frozenset(watched)
        self._hung_after_s = hung_after_s
        self._start_grace_s = start_grace_s
        self._beats: dict[int, float] = {}
        self._tracked: dict[str, _Tracked] = {}

    def heard(self, pid: int, now: float) -> None:
        """A heartbeat came from process `pid`."""
        self._beats[pid] = now

    def hung(self, programs: Sequence[ProgramState], now: float) -> list[Hang]:
        """The watched programs whose running process is silent; forgets processes now gone."""
        running = {p.name: p.pid for p in programs if p.state == "RUNNING" and p.pid > 0}
        for name in list(self._tracked):
            if running.get(name) != self._tracked[name].pid:
                del self._tracked[name]
        alive = set(running.values())
        self._beats = {pid: at for pid, at in self._beats.items() if pid in alive}
        hangs = []
        for name, pid in sorted(running.items()):
            if name not in self._watched:
                continue
            tracked = self._tracked.setdefault(name, _Tracked(pid, now))
            reason = self._silence(pid, tracked, now)
            if reason is not None:
                hangs.append(Hang(name, pid, reason))
                del self._tracked[name]  # judged once; its next process starts afresh
        return hangs

    def _silence(self, pid: int, tracked: _Tracked, now: float) -> str | None:
        last = self._beats.get(pid)
        if last is None:
            running_s = now - tracked.seen_at
            if running_s >= self._start_grace_s:
                return f"no heartbeat in the {running_s:.0f} s since it started"
            return None
        silent_s = now - last
        if silent_s >= self._hung_after_s:
            return f"no heartbeat for {silent_s:.0f} s"
        return None
