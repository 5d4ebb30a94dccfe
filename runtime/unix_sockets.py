"""Claiming a Unix socket path for a service: replace what a crash left, never a live server.

Every ChargeOS service that listens on a Unix socket (the evse API, the simulation's control
and I2C sockets) claims its path here first.
"""

from __future__ import annotations

import errno
import logging
import socket
import stat
from pathlib import Path

log = logging.getLogger(__name__)

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL
PROBE_TIMEOUT_S = 1.0


class SocketPathTaken(FileExistsError):
    """The path is in use by a live server, or is not a socket at all."""


def claim_socket_path(path: Path, owner: str) -> None:
    """Remove a stale socket file at `path`; refuse a live one or a non-socket file."""
    if len(str(path)) > MAX_SOCKET_PATH:
        raise SocketPathTaken(f"{path}: a Unix socket path is at most {MAX_SOCKET_PATH} bytes")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketPathTaken(f"{path} exists and is not a socket: move it away first")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT_S)
        try:
            probe.connect(str(path))
        except OSError as error:
            if error.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
        else:
            raise SocketPathTaken(f"{path}: another {owner} is listening there; stop it first")
    log.info("removing the stale socket %s", path)
    path.unlink(missing_ok=True)
