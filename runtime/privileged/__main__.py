"""`python -m runtime.privileged`: the privileged helper of a ChargeOS image (a root service).

Serves install, activate, reboot and debug-ssh (runtime.privileged.server) to the services'
group on the Unix socket systemd hands over (socket activation), or on --socket when started by
hand. Its
start line on the console says whom it runs as and whom it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from runtime.boot.slots import SlotSet
from runtime.privileged.debug_ssh import control_unit
from runtime.privileged.protocol import HELPER_SOCKET, REQUEST_NAMES
from runtime.privileged.server import HelperConfig, PrivilegedHelper

log = logging.getLogger("privileged")
REBOOT_COMMAND = ("systemctl", "reboot")
SERVICES_GROUP = "chargeos"
SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): the first descriptor systemd passes


async def reboot_machine() -> str:
    """Ask systemd to reboot; what happened, in words."""
    process = await asyncio.create_subprocess_exec(*REBOOT_COMMAND)
    return f"reboot requested (exit status {await process.wait()})"


def handed_over_socket(environ: Mapping[str, str] = os.environ) -> socket.socket | None:
    """The listening socket systemd passed (socket activation, sd_listen_fds), if any."""
    if environ.get("LISTEN_PID") != str(os.getpid()) or environ.get("LISTEN_FDS") != "1":
        return None
    return socket.socket(fileno=SD_LISTEN_FDS_START)


async def run(config: HelperConfig, listening: socket.socket | None) -> int:
    """Serve until SIGTERM or SIGINT."""
    server = await PrivilegedHelper(config).serve(listening)
    where = "the socket systemd handed over" if listening is not None else config.socket_path
    print(
        f"ChargeOS privileged helper: uid {os.getuid()}, pid {os.getpid()}, on {where}"
        f" for group {config.group_name} (gid {config.group_id}): {', '.join(REQUEST_NAMES)}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, resolve the group and serve."""
    parser = argparse.ArgumentParser(prog="python -m runtime.privileged", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("/data"))
    parser.add_argument("--socket", type=Path, default=HELPER_SOCKET)
    parser.add_argument("--group", default=SERVICES_GROUP, help="the group whose peers are served")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    try:
        group_id = grp.getgrnam(args.group).gr_gid
    except KeyError:
        print(f"privileged helper: no group {args.group!r} on this system", file=sys.stderr)
        return 2
    data_dir: Path = args.data_dir
    config = HelperConfig(
        socket_path=args.socket,
        group_id=group_id,
        group_name=args.group,
        uploads_dir=data_dir / "uploads",
        update_dir=data_dir / "update",  # as the health check and the updater CLI
        slots=SlotSet.on_device(),
        reboot=reboot_machine,
        debug_ssh=control_unit,
    )
    return asyncio.run(run(config, handed_over_socket()))


if __name__ == "__main__":
    sys.exit(main())
