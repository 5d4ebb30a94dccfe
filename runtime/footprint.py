"""The memory the ChargeOS services hold, as the booted system reports it once it is healthy:
every process of chargeos.service (supervisord and its programs) with its resident set (VmRSS)
and proportional set (Pss: shared pages split between their users), and the sums.

The RSS sum counts the interpreter's shared pages once per process; the PSS sum is what the
services cost the board together. Issue 11's budget: 120 MB for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.least_privilege import SERVICES_UNIT, unit_processes

KIB = 1024
MB = 1_000_000


@dataclass(frozen=True)
class ProcessMemory:
    """One service process's memory, in bytes (0 when the kernel did not say)."""

    name: str
    rss: int
    pss: int


def _kib_field(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * KIB
    return 0


def service_memory(root: Path = Path("/"), unit: str = SERVICES_UNIT) -> list[ProcessMemory]:
    """Every live process of the services' unit with its RSS and PSS (largest first)."""
    found = []
    for process in unit_processes(unit, root):
        proc = root / "proc" / str(process.pid)
        try:
            rss = _kib_field(
                (proc / "status").read_text(encoding="ascii", errors="replace"), "VmRSS"
            )
            rollup = (proc / "smaps_rollup").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # it exited meanwhile
        found.append(ProcessMemory(process.name, rss, _kib_field(rollup, "Pss")))
    return sorted(found, key=lambda memory: memory.rss, reverse=True)


def memory_line(processes: list[ProcessMemory]) -> str:
    """`evse 57.2 MB, ...; RSS total 204.6 MB, PSS total 151.0 MB` (no process: says so)."""
    if not processes:
        return f"no process in {SERVICES_UNIT}"
    each = ", ".join(f"{p.name} {p.rss / MB:.1f} MB" for p in processes)
    rss, pss = sum(p.rss for p in processes), sum(p.pss for p in processes)
    return f"{each}; RSS total {rss / MB:.1f} MB, PSS total {pss / MB:.1f} MB"
