"""The health check's least-privilege line, on a fake root: systemd's cgroups and /proc of the
processes it names, and the protected files, opened for real by a child with their credentials.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import least_privilege
from runtime.least_privilege import HELPER_UNIT, PROTECTED, SERVICES_UNIT, UNIT_CGROUPS

CHARGEOS = 900
NET_BIND_ONLY = "0000000000000400"


def add_process(
    root: Path, unit: str, pid: int, argv: list[str], uid: int, capabilities: str = "0"
) -> None:
    """A process in `unit`'s cgroup with its /proc status and command line."""
    cgroup = root / UNIT_CGROUPS / unit
    cgroup.mkdir(parents=True, exist_ok=True)
    with (cgroup / "cgroup.procs").open("a") as procs:
        procs.write(f"{pid}\n")
    proc = root / "proc" / str(pid)
    proc.mkdir(parents=True)
    gid = uid
    (proc / "status").write_text(
        f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n"
        f"Groups:\t20 {gid}\nCapEff:\t{capabilities}\n"
    )
    (proc / "cmdline").write_bytes(b"\0".join(part.encode() for part in argv) + b"\0")


@pytest.fixture
def open_root() -> Iterator[Path]:
    """A fake root every user can walk into (pytest's tmp_path is root's own, 0700)."""
    with tempfile.TemporaryDirectory(prefix="root-", dir="/tmp") as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)


@pytest.fixture
def device(open_root: Path) -> Path:
    """supervisord and two programs as chargeos, the helper as root; protected files 0000."""
    tmp_path = open_root
    venv = "/opt/chargeos/venv/bin"
    add_process(tmp_path, SERVICES_UNIT, 10, [f"{venv}/python3", f"{venv}/supervisord"], CHARGEOS)
    add_process(tmp_path, SERVICES_UNIT, 11, ["python", "-m", "runtime.evse"], CHARGEOS)
    python = ["nice", "-n", "10", "python", "-m", "webui", "--data-dir", "/data"]
    add_process(tmp_path, SERVICES_UNIT, 12, python, CHARGEOS, NET_BIND_ONLY)
    add_process(tmp_path, HELPER_UNIT, 5, ["python", "-m", "runtime.privileged"], 0, "1ff")
    for item in PROTECTED:
        path = tmp_path / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"secret")
        path.chmod(0)  # nobody but root opens it (the test may run as root or not)
    return tmp_path


def test_services_as_chargeos_and_the_helper_as_root_pass_and_are_listed(device: Path) -> None:
    verdict = least_privilege.check(device)
    assert verdict.ok, verdict.reason
    assert verdict.reason == (
        f"{SERVICES_UNIT}: supervisord 10 uid 900, runtime.evse 11 uid 900, webui 12 uid 900;"
        f" {HELPER_UNIT}: runtime.privileged 5 uid 0; the services cannot open slot A, slot B,"
        " grubenv, the system's login hashes"
    )


def test_a_service_running_as_root_fails_and_is_named(device: Path) -> None:
    add_process(device, SERVICES_UNIT, 13, ["python", "-m", "runtime.sim"], 0)
    verdict = least_privilege.check(device)
    assert not verdict.ok
    assert verdict.reason.startswith("runtime.sim 13 runs as root (")


def test_a_service_with_more_than_the_port_capability_fails(device: Path) -> None:
    add_process(device, SERVICES_UNIT, 13, ["python", "-m", "runtime.sim"], CHARGEOS, "1000")
    verdict = least_privilege.check(device)
    assert not verdict.ok
    assert verdict.reason.startswith("runtime.sim 13 has capabilities 0x1000 (")


def test_a_grubenv_the_services_could_write_fails(device: Path) -> None:
    (device / "boot/efi/EFI/BOOT/grubenv").chmod(0o666)
    verdict = least_privilege.check(device)
    assert not verdict.ok
    assert verdict.reason.startswith("uid 900 can write grubenv (")


def test_a_missing_slot_device_is_reported_not_assumed_safe(device: Path) -> None:
    (device / "dev/disk/by-partlabel/rootfs-b").unlink()
    verdict = least_privilege.check(device)
    assert not verdict.ok
    assert "slot B (/dev/disk/by-partlabel/rootfs-b) is missing: access not checked" in (
        verdict.reason
    )


def test_no_service_process_at_all_fails(tmp_path: Path) -> None:
    verdict = least_privilege.check(tmp_path)
    assert (verdict.ok, verdict.reason) == (False, f"no process in {SERVICES_UNIT}")
