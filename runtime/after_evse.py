"""`python -m runtime.after_evse --data-dir D --within S -- MODULE ARGS...`: start a program
once evse has started in this boot (runtime.boot.started), once supervisord has given up on evse
(FATAL: it will not start), or after S seconds at the latest.

The boot order of issue 11: the charger must be able to charge before the web configurator is
up, and on a slow CPU the configurator's and the health check's imports would otherwise take
CPU from evse's own start. A broken evse must not keep the configurator away: hence the bound.
Imports only the standard library (and the stdlib-only runtime.boot.started) before the exec,
and supervisord's XML-RPC client only once it asks.
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
ASK_SUPERVISORD_EVERY = 10  # polls: one XML-RPC call every 2 s (each costs supervisord CPU)
# supervisord gives up on a program after startretries (3) failed starts with backoffs of 1, 2
# and 3 s between them: it cannot say FATAL sooner, so asking earlier only costs the XML-RPC
# imports (~0.4 s of CPU under TCG, in each of three waiting programs) while evse starts.
FIRST_ASK_AFTER_POLLS = 30  # 6 s


def evse_gave_up(run_dir: Path) -> bool:
    """supervisord has given up on evse (FATAL after its start retries): waiting cannot help.
    False when supervisord does not answer or runs no evse (e.g. the health check's own tests)."""
    socket_path = run_dir / "supervisor.sock"
    if not socket_path.exists():
        return False
    # Here, not at the top: the XML-RPC client's imports are what FIRST_ASK_AFTER_POLLS spares.
    from runtime.boot.supervisord_rpc import program_state

    return program_state(socket_path, "evse") == "FATAL"


def wait_for_evse(
    run_dir: Path,
    within_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    gave_up: Callable[[Path], bool] = evse_gave_up,
) -> str | None:
    """None once evse has started in this boot; else why the wait ended without it."""
    deadline = clock() + within_s
    for attempt in range(int(within_s / POLL_S) + 2):  # bounded even if the clock stands still
        if read_started(run_dir) is not None:
            return None
        asking = attempt >= FIRST_ASK_AFTER_POLLS and attempt % ASK_SUPERVISORD_EVERY == 0
        if asking and gave_up(run_dir):
            return "supervisord gave up on evse (FATAL)"
        if clock() >= deadline:
            break
        sleep(POLL_S)
    return f"evse has not started within {within_s:g} s"


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
    missing = wait_for_evse(args.data_dir / "run", args.within)
    if missing is not None:
        print(f"{missing}; starting {module} anyway", file=sys.stderr, flush=True)
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])
    return 1  # not reached: execv replaces the process or raises


if __name__ == "__main__":
    sys.exit(main())
