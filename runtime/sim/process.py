"""The simulation process (supervisord program `sim`): the simulated charger of a data directory.

Loads `<data_dir>/profile.yaml` (it must say `hardware.simulated: true`), serves the internal
and external Modbus buses on loopback, the SMBus double and the control API on Unix sockets
under `<data_dir>/run/`, and only then announces them in `run/sim.json`; removes it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from runtime.config.atomic import atomic_write_text
from runtime.config.errors import ProfileInvalid
from runtime.config.validated_copy import load_active_profile
from runtime.hardware.sim_endpoints import SimEndpoints, sim_endpoints_path
from runtime.sim.control import create_app
from runtime.sim.modbus_server import EXTERNAL_BUS, INTERNAL_BUS
from runtime.sim.rig import SimRig
from runtime.sim.smbus_double import SmbusDoubleServer
from runtime.unix_sockets import SocketPathTaken, claim_socket_path
from schemas import Profile

log = logging.getLogger(__name__)

# sun_path holds 108 bytes including the terminating NUL (unix(7)).


class SimRefused(Exception):
    """The simulation cannot start here; the message says why and what to do."""


@dataclass(frozen=True)
class RunPaths:
    """Where the simulation puts its sockets and its endpoints file."""

    data_dir: Path

    @property
    def run_dir(self) -> Path:
        """`<data_dir>/run`."""
        return self.data_dir / "run"

    @property
    def endpoints(self) -> Path:
        """`run/sim.json`."""
        return sim_endpoints_path(self.data_dir)

    @property
    def i2c_socket(self) -> Path:
        """The SMBus double."""
        return self.run_dir / "i2c.sock"

    @property
    def control_socket(self) -> Path:
        """The control API."""
        return self.run_dir / "sim.sock"

    @property
    def evse_socket(self) -> Path:
        """The evse service's API (the simulation only reads its status)."""
        return self.run_dir / "evse.sock"


def load_simulated_profile(data_dir: Path) -> Profile:
    """The active profile of `data_dir`, refused unless it asks for simulated hardware."""
    path = data_dir / "profile.yaml"
    try:
        profile = load_active_profile(data_dir)
    except ProfileInvalid as invalid:
        raise SimRefused(f"the profile {path} is invalid:\n{invalid}") from None
    if not profile.hardware.simulated:
        raise SimRefused(
            f"{path}: hardware.simulated is false, so this profile drives real hardware; "
            "the simulation runs only for a profile with `hardware: simulated: true`"
        )
    return profile


def _claim_socket(path: Path) -> None:
    """Remove a socket file a crashed run left behind; refuse if someone still listens."""
    try:
        claim_socket_path(path, "simulation")
    except SocketPathTaken as error:
        raise SimRefused(str(error)) from None


class SimProcess:
    """The running simulation: its servers, tick loop and endpoints file."""

    def __init__(self, profile: Profile, paths: RunPaths) -> None:
        self.paths = paths
        self.rig = SimRig.from_profile(profile)
        self._stack = contextlib.AsyncExitStack()
        self.ticks: asyncio.Task[None] | None = None

    async def start(self) -> SimEndpoints:
        """Listen everywhere, start the clock, then write `sim.json` atomically."""
        paths, stack = self.paths, self._stack
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        paths.endpoints.unlink(missing_ok=True)  # a crashed run's endpoints are stale
        _claim_socket(paths.control_socket)
        _claim_socket(paths.i2c_socket)
        ports = await self.rig.modbus.start()
        stack.push_async_callback(self.rig.modbus.stop)
        await stack.enter_async_context(SmbusDoubleServer(self.rig.chips.double, paths.i2c_socket))
        self.ticks = asyncio.create_task(self.rig.run(), name="sim ticks")
        stack.push_async_callback(_cancel, self.ticks)
        runner = web.AppRunner(create_app(self.rig, paths.evse_socket), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.UnixSite(runner, str(paths.control_socket)).start()
        stack.callback(paths.control_socket.unlink, missing_ok=True)
        paths.control_socket.chmod(0o600)
        endpoints = SimEndpoints(
            internal_port=ports[INTERNAL_BUS],
            external_port=ports[EXTERNAL_BUS],
            i2c_socket=str(paths.i2c_socket),
            control_socket=str(paths.control_socket),
        )
        atomic_write_text(paths.endpoints, endpoints.model_dump_json(indent=2) + "\n")
        stack.callback(paths.endpoints.unlink, missing_ok=True)
        log.info(
            "simulation up: internal bus 127.0.0.1:%d, external bus 127.0.0.1:%d, "
            "I2C %s, control %s",
            endpoints.internal_port,
            endpoints.external_port,
            endpoints.i2c_socket,
            endpoints.control_socket,
        )
        return endpoints

    async def stop(self) -> None:
        """Withdraw `sim.json` first, then close every server and stop the clock."""
        await self._stack.aclose()
        log.info("simulation stopped")


async def _cancel(task: asyncio.Task[None]) -> None:
    if task.done():
        return  # its error, if any, was raised by serve()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(data_dir: Path) -> None:
    """Run the simulation of `data_dir` until SIGTERM or SIGINT."""
    paths = RunPaths(data_dir.resolve())
    process = SimProcess(load_simulated_profile(paths.data_dir), paths)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await process.start()
        assert process.ticks is not None
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((stopping, process.ticks), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if process.ticks.done():
            process.ticks.result()  # the clock died: raise its error, supervisord restarts us
    finally:
        await process.stop()
