"""The services' memory line of the health check: each process of chargeos.service with its
resident and proportional set, read from the kernel, and the sums (issue 11's 120 MB budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime.footprint import ProcessMemory, memory_line, service_memory
from runtime.least_privilege import SERVICES_UNIT, UNIT_CGROUPS


def test_each_service_process_is_measured_by_the_kernel(tmp_path: Path) -> None:
    # A real interpreter in a fake cgroup (the root's /proc is the kernel's own), measured once
    # it says it runs: right after exec the kernel has mapped only a few pages of it.
    service = tmp_path / "waiting_service.py"
    service.write_text("import sys\nprint('ready', flush=True)\nsys.stdin.read()\n")
    waiting = subprocess.Popen(
        [sys.executable, str(service)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stdout is not None
        assert waiting.stdout.readline() == "ready\n"
        root = tmp_path / "root"
        cgroup = root / UNIT_CGROUPS / SERVICES_UNIT
        cgroup.mkdir(parents=True)
        (cgroup / "cgroup.procs").write_text(f"{waiting.pid}\n")
        (root / "proc").symlink_to("/proc")
        (memory,) = service_memory(root)
    finally:
        waiting.kill()
        waiting.communicate(timeout=10)
    assert memory.name == "waiting_service.py"
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
