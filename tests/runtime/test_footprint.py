"""The services' memory line of the health check: each process of chargeos.service with its
resident and proportional set, read from the kernel, and the sums (issue 11's 120 MB budget)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from runtime.footprint import ProcessMemory, memory_line, service_memory
from runtime.least_privilege import SERVICES_UNIT, UNIT_CGROUPS

REPO = Path(__file__).resolve().parents[2]


def test_each_service_process_is_measured_by_the_kernel(tmp_path: Path) -> None:
    # A real process in a fake cgroup: the root's /proc is the kernel's own.
    waiting = subprocess.Popen(
        [sys.executable, "-m", "runtime.after_evse", "--data-dir", str(tmp_path),
         "--within", "60", "--", "json.tool", "/dev/null"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        cmdline = Path(f"/proc/{waiting.pid}/cmdline")
        for _ in range(200):  # until the child has exec'd the interpreter (bounded: 10 s)
            if b"runtime.after_evse" in cmdline.read_bytes():
                break
            time.sleep(0.05)
        root = tmp_path / "root"
        cgroup = root / UNIT_CGROUPS / SERVICES_UNIT
        cgroup.mkdir(parents=True)
        (cgroup / "cgroup.procs").write_text(f"{waiting.pid}\n")
        (root / "proc").symlink_to("/proc")
        (memory,) = service_memory(root)
    finally:
        waiting.kill()
        waiting.wait(timeout=10)
    assert memory.name == "runtime.after_evse"
    assert 2_000_000 < memory.rss < 200_000_000  # an interpreter, in bytes
    assert 0 < memory.pss <= memory.rss


def test_a_process_gone_meanwhile_is_left_out(tmp_path: Path) -> None:
    cgroup = tmp_path / UNIT_CGROUPS / SERVICES_UNIT
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text("4194305\n")  # above the kernel's pid limit
    (tmp_path / "proc").mkdir()
    assert service_memory(tmp_path) == []
    assert memory_line([]) == f"no process in {SERVICES_UNIT}"


def test_the_line_names_each_process_largest_first_and_both_sums() -> None:
    line = memory_line(
        [
            ProcessMemory("webui", 66_600_000, 40_000_000),
            ProcessMemory("supervisord", 25_100_000, 9_000_000),
        ]
    )
    assert line == "webui 66.6 MB, supervisord 25.1 MB; RSS total 91.7 MB, PSS total 49.0 MB"
