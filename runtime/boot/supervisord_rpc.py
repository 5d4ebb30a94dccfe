"""supervisord's XML-RPC over its Unix socket with the standard library alone (no aiohttp):
for `runtime.after_evse`, which must stay light while evse starts. Imported only when asked."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path

TIMEOUT_S = 2.0


class _UnixHttp(http.client.HTTPConnection):
    """HTTP over supervisord's Unix socket (the standard library has no such transport)."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_S)
        sock.connect(str(self._path))
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        return _UnixHttp(self._path)


def program_state(socket_path: Path, name: str) -> str | None:
    """The program's state name (RUNNING, FATAL, ...); None when supervisord does not answer or
    runs no such program."""
    proxy = xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(socket_path))
    try:
        info = proxy.supervisor.getProcessInfo(name)
    except (OSError, xmlrpc.client.Error):
        return None
    state = info.get("statename") if isinstance(info, dict) else None
    return state if isinstance(state, str) else None
