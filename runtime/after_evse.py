"""`python -m runtime.after_evse --data-dir D --within S -- MODULE ARGS...`: start a program
once evse has started in this boot (runtime.boot.started), or after S seconds at the latest.

The boot order of issue 11: the charger must be able to charge before the web configurator is
up, and on a slow CPU the configurator's and the health check's imports would otherwise take
CPU from evse's own start. A broken evse must not keep the configurator away: hence the bound.
Imports only the standard library (and the stdlib-only runtime.boot.started) before the exec.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from runtime.boot.started import read_started

POLL_S = 0.2  # a stat and a small read: nothing next to a Python start


def wait_for_evse(
    run_dir: Path,
    within_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True once evse has started in this boot; False when `within_s` ran out first."""
    deadline = clock() + within_s
    for _ in range(int(within_s / POLL_S) + 2):  # bounded even if the clock stands still
        if read_started(run_dir) is not None:
            return True
        if clock() >= deadline:
            break
        sleep(POLL_S)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Wait, then replace this process with `python -m MODULE ARGS...` (the same pid for
    supervisord or systemd, and the program's own command line in ps)."""
    parser = argparse.ArgumentParser(
        prog="python -m runtime.after_evse",
        usage="python -m runtime.after_evse --data-dir D --within S -- MODULE [ARGS...]",
        description=__doc__,
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--within", type=float, required=True, help="seconds to wait at most")
    given = list(sys.argv[1:] if argv is None else argv)
    if "--" not in given or given[-1] == "--":
        parser.error("name the program after --, e.g. -- webui --data-dir /data")
    split = given.index("--")
    args = parser.parse_args(given[:split])
    module, *arguments = given[split + 1 :]
    if not wait_for_evse(args.data_dir / "run", args.within):
        print(f"evse has not started within {args.within:g} s; starting {module} anyway",
              file=sys.stderr, flush=True)  # fmt: skip
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])
    return 1  # not reached: execv replaces the process or raises


if __name__ == "__main__":
    sys.exit(main())
