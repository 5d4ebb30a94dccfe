"""supervisord's XML-RPC interface on its Unix socket: the Admin page's Service Control.

Calls are blocking (xmlrpc.client) and run in a thread. Program names are those of
runtime/programs.py; a program that is not configured reads as "not available". "Restart all"
behaves like a reboot of the programs: everything stops, then what starts at boot starts again
in supervisord's priority order (a debug SSH started by hand stays off).
"""

from __future__ import annotations

import asyncio
import http.client
import xmlrpc.client
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from supervisor.xmlrpc import SupervisorTransport

Action = Literal["start", "stop", "restart"]
RUNNING_STATES = frozenset({"RUNNING", "STARTING", "BACKOFF"})
DONE = {"start": "started", "stop": "stopped", "restart": "restarted"}
DEFAULT_PRIORITY = 999  # supervisord's own default


class SupervisorUnavailable(ConnectionError):
    """supervisord does not answer on its socket."""


@dataclass(frozen=True)
class ProgramState:
    """One program as supervisord reports it."""

    name: str
    state: str  # RUNNING, STOPPED, STARTING, BACKOFF, FATAL, EXITED, ...
    description: str  # e.g. "pid 1234, uptime 0:01:02"
    pid: int = 0  # 0 when not running


@dataclass(frozen=True)
class ProgramConfig:
    """What supervisord's configuration says about a program."""

    name: str
    priority: int
    autostart: bool


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
        except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as error:
            raise SupervisorUnavailable(
                f"supervisord does not answer on {self._socket_path}: {error}"
            ) from None

    async def programs(self) -> list[ProgramState]:
        """Every configured program and its state."""
        infos = await self._call("supervisor.getAllProcessInfo")
        return [
            ProgramState(i["name"], i["statename"], i["description"], int(i.get("pid", 0)))
            for i in infos
        ]

    async def configs(self) -> dict[str, ProgramConfig]:
        """Every configured program's priority and autostart, by name."""
        infos = await self._call("supervisor.getAllConfigInfo")
        return {
            i["name"]: ProgramConfig(
                i["name"], int(i.get("priority", DEFAULT_PRIORITY)), bool(i.get("autostart"))
            )
            for i in infos
        }

    async def control(self, name: str, action: Action) -> str:
        """Start, stop or restart a program; returns what happened in plain words."""
        program = {p.name: p for p in await self.programs()}.get(name)
        if program is None:
            return f"{name} is not available on this charger"
        running = program.state in RUNNING_STATES
        if action == "start" and running:
            return f"{name} is already running ({program.state})"
        if action == "stop" and not running:
            return f"{name} is already stopped ({program.state})"
        try:
            if action in ("stop", "restart") and running:
                await self._call("supervisor.stopProcess", name, True)
            if action in ("start", "restart"):
                await self._call("supervisor.startProcess", name, True)
        except xmlrpc.client.Fault as fault:
            return f"{name}: {action} failed: {fault.faultString}"
        return f"{name}: {DONE[action]}, now {await self._state_of(name)}"

    async def restart_all(self, keep: Collection[str] = ()) -> list[str]:
        """Stop every program but `keep`, then start those that start at boot; one line each."""
        configs = await self.configs()
        programs = [p for p in await self.programs() if p.name not in keep]
        order = sorted(
            programs,
            key=lambda p: configs[p.name].priority if p.name in configs else DEFAULT_PRIORITY,
        )
        failures: dict[str, str] = {}
        for program in reversed(order):
            if program.state in RUNNING_STATES:
                failures.update(await self._try("supervisor.stopProcess", program.name))
        for program in order:
            config = configs.get(program.name)
            if config is not None and config.autostart and program.name not in failures:
                failures.update(await self._try("supervisor.startProcess", program.name))
        states = {p.name: p.state for p in await self.programs()}
        return [
            f"{p.name}: restart failed: {failures[p.name]}"
            if p.name in failures
            else f"{p.name}: restarted, now {states.get(p.name, 'gone')}"
            for p in order
        ]

    async def signal(self, name: str, signal_name: str = "TERM") -> str:
        """Send a signal to a running program (with autorestart, supervisord starts it again)."""
        try:
            await self._call("supervisor.signalProcess", name, signal_name)
        except xmlrpc.client.Fault as fault:
            return f"{name}: signal {signal_name} failed: {fault.faultString}"
        return f"{name}: signal {signal_name} sent"

    async def _try(self, method: str, name: str) -> dict[str, str]:
        try:
            await self._call(method, name, True)
        except xmlrpc.client.Fault as fault:
            return {name: fault.faultString}
        return {}

    async def _state_of(self, name: str) -> str:
        program = {p.name: p for p in await self.programs()}.get(name)
        return program.state if program is not None else "gone"
