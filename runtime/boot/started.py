"""The boot order's one signal: evse writes `run/evse.started` once it has started (local API
served, the power board read once, its LED colour decided); the web configurator and the health
check start after it, so their imports (seconds of CPU on a slow board) never delay charging.

Standard library only, on purpose: `runtime.after_evse` reads it before importing anything
heavy, so the file is plain JSON rather than a pydantic model; `read_started` validates it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
UPTIME = Path("/proc/uptime")
STARTED_NAME = "evse.started"


def this_boot(path: Path = BOOT_ID) -> str:
    """The kernel's id of the running boot."""
    return path.read_text(encoding="ascii").strip()


def read_uptime(path: Path = UPTIME) -> float:
    """Seconds since the kernel started."""
    return float(path.read_text(encoding="ascii").split()[0])


@dataclass(frozen=True)
class EvseStarted:
    """What evse recorded when it had started: in which boot, when, and what it showed."""

    boot_id: str
    pid: int
    uptime_s: float  # the kernel's uptime at that moment
    state: str  # the evse state, e.g. "available"
    led: str  # the LED colour, e.g. "green"


def started_path(run_dir: Path) -> Path:
    """Where evse writes it (the data directory's run/)."""
    return run_dir / STARTED_NAME


def write_started(run_dir: Path, state: str, led: str, *, boot_id: str | None = None,
                  uptime_s: float | None = None) -> EvseStarted:  # fmt: skip
    """Record that evse has started (atomically: a reader never sees half a file)."""
    started = EvseStarted(
        boot_id=boot_id if boot_id is not None else this_boot(),
        pid=os.getpid(),
        uptime_s=uptime_s if uptime_s is not None else read_uptime(),
        state=state,
        led=led,
    )
    path = started_path(run_dir)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(started)), encoding="utf-8")
    partial.replace(path)
    return started


def read_started(run_dir: Path, boot_id: str | None = None) -> EvseStarted | None:
    """evse's record of this boot (`boot_id`, default the running one); None when there is
    none, it is unreadable, or a previous boot left it behind (a power cut keeps /data)."""
    try:
        fields = json.loads(started_path(run_dir).read_text(encoding="utf-8"))
        started = EvseStarted(
            boot_id=str(fields["boot_id"]),
            pid=int(fields["pid"]),
            uptime_s=float(fields["uptime_s"]),
            state=str(fields["state"]),
            led=str(fields["led"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return started if started.boot_id == (boot_id or this_boot()) else None
