"""`python -m runtime.watchdog --data-dir DIR`: the watchdog service (supervisord `watchdog`).

Watches every program of runtime/programs.py that sends heartbeats; the bounds may be narrowed
for a test (`--hung-after-s`, `--start-grace-s`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.programs import PROGRAMS
from runtime.watchdog.hangs import HUNG_AFTER_S, START_GRACE_S
from runtime.watchdog.service import SUPERVISOR_TIMEOUT_S, serve, settings_from_environment


async def _run(data_dir: Path, hung_after_s: float, start_grace_s: float) -> int:
    watched = [program.name for program in PROGRAMS if program.heartbeat]
    settings = dataclasses.replace(
        settings_from_environment(data_dir, watched),
        hung_after_s=hung_after_s,
        start_grace_s=start_grace_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, set up logging and run."""
    parser = argparse.ArgumentParser(prog="python -m runtime.watchdog", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--hung-after-s", type=float, default=HUNG_AFTER_S)
    parser.add_argument("--start-grace-s", type=float, default=START_GRACE_S)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.hung_after_s <= 0 or args.start_grace_s <= 0:
        parser.error("--hung-after-s and --start-grace-s must be more than 0")
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # supervisord's XML-RPC client blocks in a thread; a frozen supervisord must not hold it.
    socket.setdefaulttimeout(SUPERVISOR_TIMEOUT_S)
    return asyncio.run(_run(args.data_dir.resolve(), args.hung_after_s, args.start_grace_s))


if __name__ == "__main__":
    sys.exit(main())
