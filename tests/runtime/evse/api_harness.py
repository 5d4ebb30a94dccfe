"""A running evse service for API tests: real drivers, the real simulation, the real local API.

`running_evse()` starts the simulated station (pymodbus server on loopback, SMBus double in
process), builds the controller around the real drivers as runtime.evse.devices does, runs
its loops, and serves the local API on a Unix socket in the test's tmp_path. Time is the wall
clock plus an offset the test may advance (`evse.clock.advance`), so expiries need no waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from runtime.config.loader import load_profile
from runtime.drivers.modbus import ModbusBus
from runtime.evse.api import create_app, serve_unix
from runtime.evse.authorization import Authorizer
from runtime.evse.client import EvseClient
from runtime.evse.clock import Clock
from runtime.evse.commands import Commands
from runtime.evse.controller import Controller
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.devices import devices_on
from runtime.evse.events import EventHub
from runtime.evse.service import EvseContext, run_controller, start_controller
from runtime.evse.sessions import SessionKeeper
from runtime.evse.status import EvseStatus
from runtime.persistence.auth_cache import AuthCache
from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLog
from runtime.persistence.latches import LatchStore
from runtime.persistence.transactions import TransactionStore
from runtime.sim.car import CarSpec, SimCar
from runtime.sim.modbus_server import LOOPBACK
from runtime.sim.smbus_double import ChargerI2c
from runtime.sim.station import SimStation, serve_station
from schemas import Profile

ROOT = Path(__file__).resolve().parents[3]
SIMULATED_PROFILE = ROOT / "profiles" / "simulated.yaml"
POLL_S = 0.05
POLLS = 100  # every wait is bounded: at most 100 x 50 ms
STOP_TIMEOUT_S = 10.0

T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run one test scenario in a fresh event loop."""
    return asyncio.run(scenario)


def simulated_profile(**authorization: Any) -> Profile:
    """profiles/simulated.yaml, with authorization settings replaced."""
    profile = load_profile(SIMULATED_PROFILE).profile
    if not authorization:
        return profile
    settings = profile.authorization.model_copy(update=authorization)
    return profile.model_copy(update={"authorization": settings})


@dataclass
class VirtualClock:
    """Wall time plus an offset that only moves forward, and a wall-clock step (NTP's)."""

    offset_s: float = 0.0
    wall_step_s: float = 0.0

    def monotonic(self) -> float:
        """Monotonic seconds plus the offset."""
        return time.monotonic() + self.offset_s

    def now(self) -> datetime:
        """UTC wall time plus the offset and any step of the wall clock."""
        return datetime.now(UTC) + timedelta(seconds=self.offset_s + self.wall_step_s)

    def advance(self, seconds: float) -> None:
        """Jump forward: timers and expiries in the controller see `seconds` more."""
        self.offset_s += seconds

    def step_wall(self, seconds: float) -> None:
        """Set the wall clock by `seconds` (either way), as NTP does at boot; monotonic time
        does not move."""
        self.wall_step_s += seconds

    def clock(self) -> Clock:
        """As the controller's Clock."""
        return Clock(monotonic=self.monotonic, now=self.now)


@dataclass
class RunningEvse:
    """The running service and what a test reaches around it."""

    station: SimStation
    chips: ChargerI2c
    controller: Controller
    context: EvseContext
    bridge: CsmsBridge
    socket_path: Path
    client: EvseClient
    clock: VirtualClock
    shutdown: asyncio.Event
    service: asyncio.Task[None]
    runner: web.AppRunner
    _api_stopped: bool = False

    async def stop_api(self) -> None:
        """Stop serving the local API (as when the service exits); idempotent."""
        if not self._api_stopped:
            self._api_stopped = True
            await self.runner.cleanup()

    async def status_until(self, check: Callable[[EvseStatus], bool], what: str) -> EvseStatus:
        """Poll GET /status (bounded) until `check` holds; fail naming `what` otherwise."""
        status = await self.client.status()
        for _ in range(POLLS):
            if check(status):
                return status
            await asyncio.sleep(POLL_S)
            status = await self.client.status()
        raise AssertionError(f"waited in vain for {what}; last status: {status}")


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` (bounded) until it holds."""
    for _ in range(POLLS):
        if check():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"waited in vain for {what}")


@asynccontextmanager
async def running_evse(
    tmp_path: Path, profile: Profile | None = None, car: SimCar | None = None
) -> AsyncIterator[RunningEvse]:
    """Start the simulation, the controller and the local API; stop them all afterwards."""
    profile = profile or simulated_profile()
    station = SimStation(car=car or SimCar(CarSpec(reaction_time_s=0.2)))
    server = serve_station(
        station,
        power_board_unit=profile.hardware.power_board_address,
        meter_unit=profile.metering.internal_meter.modbus_address,
    )
    ports = await server.start()
    ticking = asyncio.create_task(station.run())
    internal = ModbusBus.loopback(
        LOOPBACK, ports["internal"], timeout_s=profile.hardware.internal_bus.timeout_s
    )
    chips = ChargerI2c.from_config(profile.hardware.i2c)
    database = Database.open(tmp_path / "chargeos.db")
    clock = VirtualClock()
    events = EventHub(now=clock.now)
    store = TransactionStore(database)
    bridge = CsmsBridge(events)
    controller = Controller(
        profile,
        devices_on(profile, internal, chips.local_bus()),
        SessionKeeper(store, 1, clock.clock(), events, profile.csms.meter_values_interval_s),
        Authorizer(profile.authorization, AuthCache(database), bridge.available, now=clock.now),
        clock.clock(),
        events,
        LatchStore(database),
    )
    shutdown = asyncio.Event()
    context = EvseContext(controller, Commands(controller, shutdown), store, EventLog(database))
    await start_controller(controller)
    service = asyncio.create_task(run_controller(controller, shutdown))
    socket_path = tmp_path / "evse.sock"
    runner = await serve_unix(create_app(context, bridge), socket_path)
    client = EvseClient(socket_path)
    evse = RunningEvse(
        station,
        chips,
        controller,
        context,
        bridge,
        socket_path,
        client,
        clock,
        shutdown,
        service,
        runner,
    )
    try:
        yield evse
    finally:
        await client.close()
        await evse.stop_api()
        shutdown.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(service, STOP_TIMEOUT_S)
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await internal.close()
        await server.stop()
        database.close()
