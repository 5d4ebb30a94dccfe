#!/usr/bin/env python3
"""What the boot's critical path costs in CPU: evse and the simulator from exec to
`run/evse.started`, natively, against a bare interpreter start in the same run.

Under TCG every CPU second here becomes tens of seconds of boot, so this is the number that
issue 11's boot ratio follows. For each round, in a data directory that first boot prepared:
  - `python -c pass` from the same venv (the baseline: the interpreter's own start);
  - `python -m runtime.sim serve` and `python -m runtime.evse` started together, as supervisord
    does; the CPU each has used (utime + stime from /proc) when evse writes run/evse.started;
  - the same two processes' CPU over the next `--idle-s` seconds, idle (no car): the steady cost
    of the power-board poll on both sides of the bus.
Prints medians of --rounds and each as a ratio to the bare start.
Run from the repository root: `.venv/bin/python bench/service_start.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proc_stat import cpu_seconds  # noqa: E402

PROFILE = REPO / "profiles" / "simulated.yaml"
START_TIMEOUT_S = 60.0
POLL_S = 0.01


def bare_start_s() -> float:
    """CPU seconds of `python -c pass` (its rusage as a finished child)."""
    before = os.times()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    after = os.times()
    return (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def one_start(data_dir: Path, idle_s: float) -> tuple[float, float, float, float]:
    """(evse CPU to started, sim CPU by then, evse CPU per idle second, sim CPU per idle s)."""
    run = data_dir / "run"
    for stale in (*run.glob("sim*"), run / "evse.started"):
        stale.unlink(missing_ok=True)
    sim, evse = (
        subprocess.Popen([sys.executable, "-m", module, "--data-dir", str(data_dir), *extra],
                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for module, extra in (("runtime.sim", ["serve"]), ("runtime.evse", []))
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (run / "evse.started").exists():
            if time.monotonic() > deadline or evse.poll() is not None:
                raise SystemExit(f"evse did not start within {START_TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        evse_start, sim_start = cpu_seconds(evse.pid), cpu_seconds(sim.pid)
        time.sleep(idle_s)
        evse_idle = (cpu_seconds(evse.pid) - evse_start) / idle_s
        sim_idle = (cpu_seconds(sim.pid) - sim_start) / idle_s
    finally:
        for process in (evse, sim):
            process.terminate()
        for process in (evse, sim):
            process.wait(timeout=30)
    return evse_start, sim_start, evse_idle, sim_idle


def main() -> int:
    """Prepare a data directory, then time --rounds starts; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chargeos-bench-start-") as folder:
        data_dir = Path(folder) / "data"
        subprocess.run(
            [sys.executable, "-m", "runtime.firstboot", "--data-dir", str(data_dir),
             "--factory-profile", str(PROFILE)],
            cwd=REPO, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        bare = statistics.median(bare_start_s() for _ in range(args.rounds))
        starts = [one_start(data_dir, args.idle_s) for _ in range(args.rounds)]
    evse_start, sim_start, evse_idle, sim_idle = (
        statistics.median(column) for column in zip(*starts, strict=True)
    )
    print(f"bare interpreter start (python -c pass): {bare:.3f} s CPU")
    print(f"evse, exec -> evse.started: {evse_start:.3f} s CPU = {evse_start / bare:.1f}x bare")
    print(f"sim by then:                {sim_start:.3f} s CPU = {sim_start / bare:.1f}x bare")
    print(f"idle, no car: evse {evse_idle * 100:.1f} %, sim {sim_idle * 100:.1f} % of a core "
          f"(median of {args.rounds} rounds of {args.idle_s:g} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
