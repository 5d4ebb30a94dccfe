"""supervisord's XML-RPC interface on its Unix socket: the Admin page's Service Control.

Calls are blocking (xmlrpc.client) and run in a thread. Program names are those of
runtime/programs.py; a program that is not configured reads as "not available".
"""

from __future__ import annotations

import asyncio
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from supervisor.xmlrpc import SupervisorTransport

Action = Literal["start", "stop", "restart"]


class SupervisorUnavailable(ConnectionError):
    """supervisord does not answer on its socket."""


@dataclass(frozen=True)
class ProgramState:
    """One program as supervisord reports it."""

    name: str
    state: str  # RUNNING, STOPPED, STARTING, BACKOFF, FATAL, EXITED, ...
    description: str


class Supervisor:
    """A client of supervisord's XML-RPC interface."""

    def __init__(self, socket_path: Path) -> None:
        self._socket_path = socket_path

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self._socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    async def _call(self, method: str, *args: Any) -> Any:
        def call() -> Any:
            target = self._proxy()
            for part in method.split("."):
                target = getattr(target, part)
            return target(*args)

        try:
            return await asyncio.to_thread(call)
        except (OSError, xmlrpc.client.ProtocolError) as error:
            raise SupervisorUnavailable(
                f"supervisord does not answer on {self._socket_path}: {error}"
            ) from None

    async def programs(self) -> list[ProgramState]:
        """Every configured program and its state."""
        infos = await self._call("supervisor.getAllProcessInfo")
        return [ProgramState(i["name"], i["statename"], i["description"]) for i in infos]

    async def control(self, name: str, action: Action) -> str:
        """Start, stop or restart a program; returns what happened in plain words."""
        names = {program.name: program for program in await self.programs()}
        program = names.get(name)
        if program is None:
            return f"{name} is not available on this charger"
        try:
            if action in ("stop", "restart") and program.state in ("RUNNING", "STARTING"):
                await self._call("supervisor.stopProcess", name, True)
            if action in ("start", "restart"):
                await self._call("supervisor.startProcess", name, True)
        except xmlrpc.client.Fault as fault:
            return f"{name}: {fault.faultString}"
        return f"{name}: {action} done"
