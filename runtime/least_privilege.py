"""Least privilege, as the booted system's health check sees it: who every ChargeOS process runs
as (from the kernel: systemd's cgroups and /proc), and whether the services' credentials could
open what only root may (a root slot, GRUB's environment, the system's login hashes).

The access is tried for real: a forked child takes the services' uid and groups and opens each
path without writing anything. A release that runs a service as root, or lets it near a slot,
fails its health check and rolls back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.boot.scheme import ESP_MOUNT, GRUBENV, SLOT_LABELS

SERVICES_UNIT = "chargeos.service"  # supervisord and every ChargeOS program
HELPER_UNIT = "chargeos-privileged.service"  # the one root service
UNIT_CGROUPS = "sys/fs/cgroup/system.slice"  # under the root: systemd's cgroup of each unit
CAP_NET_BIND_SERVICE = 10  # linux/capability.h: the one capability the services keep
ALLOWED_CAPABILITIES = 1 << CAP_NET_BIND_SERVICE
READ, WRITE = os.O_RDONLY, os.O_WRONLY


@dataclass(frozen=True)
class Protected:
    """A path the services' user must not open the given way."""

    label: str
    path: str  # relative to the root
    flags: int  # READ or WRITE


BY_PARTLABEL = "dev/disk/by-partlabel"
PROTECTED: tuple[Protected, ...] = (
    *(Protected(f"slot {s}", f"{BY_PARTLABEL}/{label}", WRITE) for s, label in SLOT_LABELS.items()),
    Protected("grubenv", f"{ESP_MOUNT.lstrip('/')}{GRUBENV}", WRITE),
    Protected("the system's login hashes", "etc/shadow", READ),
)


@dataclass(frozen=True)
class Credentials:
    """A process's identity as the kernel reports it."""

    uids: tuple[int, int, int]  # real, effective, saved
    gid: int
    groups: tuple[int, ...]
    capabilities: int  # effective set


@dataclass(frozen=True)
class Process:
    """One process of a unit."""

    pid: int
    name: str  # the Python module it runs (-m), else its program's file name
    credentials: Credentials

    @property
    def root(self) -> bool:
        """Any of its uids is 0."""
        return 0 in self.credentials.uids


def unit_processes(unit: str, root: Path = Path("/")) -> list[Process]:
    """Every live process in a unit's cgroup tree; empty when the unit runs nothing."""
    base = root / UNIT_CGROUPS / unit
    pids = sorted(
        {int(line) for procs in base.rglob("cgroup.procs") for line in _lines(procs) if line}
    )
    found = (_process(root / "proc" / str(pid), pid) for pid in pids)
    return [process for process in found if process is not None]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").split()
    except OSError:
        return []


def _process(proc: Path, pid: int) -> Process | None:
    try:
        status = (proc / "status").read_text(encoding="ascii", errors="replace")
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # it exited meanwhile
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = [int(value) for value in fields["Uid"].split()[:3]]
    credentials = Credentials(
        uids=(uids[0], uids[1], uids[2]),
        gid=int(fields["Gid"].split()[0]),
        groups=tuple(int(group) for group in fields.get("Groups", "").split()),
        capabilities=int(fields["CapEff"].strip(), 16),
    )
    return Process(pid, process_name([part.decode(errors="replace") for part in argv]), credentials)


def process_name(argv: Sequence[str]) -> str:
    """`python -m runtime.evse ...` → runtime.evse; `python3 .../supervisord ...` and
    `.../supervisord ...` → supervisord."""
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    if not argv or not argv[0]:
        return "?"
    program = Path(argv[0]).name
    if program.startswith("python") and len(argv) > 1 and argv[1] and argv[1][0] != "-":
        return Path(argv[1]).name  # a script run by the interpreter (a venv's entry point)
    return program


def can_open(path: Path, flags: int, credentials: Credentials) -> bool:
    """Whether a process with `credentials` may open `path` (tried by a forked child that
    takes them; nothing is written, a write-only open does not truncate)."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only makes system calls, then exits
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgroups(list(credentials.groups))
                os.setresgid(credentials.gid, credentials.gid, credentials.gid)
                os.setresuid(*credentials.uids)
            os.close(os.open(path, flags | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC))
            code = 0
        except OSError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


@dataclass(frozen=True)
class Verdict:
    """What the check found: a line for the console, and whether it passes."""

    ok: bool
    reason: str


def check(root: Path = Path("/")) -> Verdict:
    """No ChargeOS process but the helper as root, only the allowed capability, and the
    services' credentials open nothing in PROTECTED."""
    services, helper = unit_processes(SERVICES_UNIT, root), unit_processes(HELPER_UNIT, root)
    if not services:
        return Verdict(False, f"no process in {SERVICES_UNIT}")
    problems = [f"{p.name} {p.pid} runs as root" for p in services if p.root]
    problems += [
        f"{p.name} {p.pid} has capabilities {p.credentials.capabilities:#x}"
        for p in services
        if p.credentials.capabilities & ~ALLOWED_CAPABILITIES
    ]
    opened = []
    for item in PROTECTED:
        if not (root / item.path).exists():
            problems.append(f"{item.label} ({'/' + item.path}) is missing: access not checked")
    # One try per identity: file access does not depend on the port capability.
    identities = {(p.credentials.uids, p.credentials.gid, p.credentials.groups): p.credentials
                  for p in services if not p.root}  # fmt: skip
    for credentials in identities.values():
        for item in PROTECTED:
            if can_open(root / item.path, item.flags, credentials):
                how = "write" if item.flags == WRITE else "read"
                opened.append(f"uid {credentials.uids[1]} can {how} {item.label}")
    listing = ", ".join(f"{p.name} {p.pid} uid {p.credentials.uids[1]}" for p in services)
    helpers = ", ".join(f"{p.name} {p.pid} uid {p.credentials.uids[1]}" for p in helper)
    found = f"{SERVICES_UNIT}: {listing}; {HELPER_UNIT}: {helpers or 'not running'}"
    if problems or opened:
        return Verdict(False, "; ".join([*problems, *opened]) + f" ({found})")
    labels = ", ".join(item.label for item in PROTECTED)
    return Verdict(True, f"{found}; the services cannot open {labels}")
