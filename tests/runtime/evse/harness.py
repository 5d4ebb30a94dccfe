"""A whole charger in one event loop: real drivers, simulated devices, the real controller.

The simulated board, meter and car answer over RTU frames on loopback TCP; the RFID reader,
LED and accelerometer over the SMBus double's Unix socket. Time is real (the control loop
polls every 50 ms), so every wait here is bounded and polls the condition. `restart_evse()`
stops the controller and starts a new one on the same data directory while the simulated
board, meter, car and chips keep their state (as supervisord restarts `evse` on the charger).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from runtime.config.loader import load_profile
from runtime.evse.authorization import Authorizer
from runtime.evse.clock import Clock
from runtime.evse.controller import Controller
from runtime.evse.devices import OpenDevices, open_devices
from runtime.evse.events import EventHub
from runtime.evse.service import run_controller, start_controller
from runtime.evse.sessions import SessionKeeper
from runtime.evse.states import EvseState, LedColour, colour_of
from runtime.hardware.sim_endpoints import SimEndpoints
from runtime.persistence.auth_cache import AuthCache
from runtime.persistence.database import Database
from runtime.persistence.latches import LatchStore
from runtime.persistence.transactions import TransactionStore
from runtime.sim.car import CarSpec, SimCar
from runtime.sim.modbus_server import SimModbusServer
from runtime.sim.smbus_double import ChargerI2c, SmbusDoubleServer
from runtime.sim.station import SimStation, serve_station
from schemas import Profile

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"
WAIT_STEP_S = 0.02
OWNER = "FB433810"  # on the local card list of profiles/simulated.yaml
CARD_GONE_S = 0.3  # the reader polls every 200 ms: let it see the empty field
FAST_CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=0.3)

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@dataclass
class Evse:
    """One run of the evse service in this process: its devices, database and loops."""

    opened: OpenDevices
    database: Database
    controller: Controller
    transactions: TransactionStore
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    running: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, profile: Profile, endpoints: SimEndpoints, database_path: Path) -> Evse:
        """Open the devices and the database, build the controller, start its loops."""
        opened: OpenDevices = open_devices(profile, endpoints)
        database = Database.open(database_path)
        transactions = TransactionStore(database)
        events = EventHub()
        clock = Clock()
        sessions = SessionKeeper(transactions, 1, clock, events, sample_interval_s=1.0)
        authorizer = Authorizer(profile.authorization, AuthCache(database), lambda: None)
        controller = Controller(
            profile, opened.devices, sessions, authorizer, clock, events, LatchStore(database)
        )
        evse = cls(opened, database, controller, transactions)
        await start_controller(controller)
        evse.running = asyncio.create_task(run_controller(controller, evse.stop))
        return evse

    async def close(self) -> None:
        """Stop the loops (the charger left safe), release the buses and the database."""
        self.stop.set()
        if self.running is not None:
            await asyncio.wait_for(self.running, timeout=5)
        await self.opened.close()
        self.database.close()


@dataclass
class Rig:
    """The running charger and its simulated surroundings."""

    profile: Profile
    station: SimStation
    chips: ChargerI2c
    modbus: SimModbusServer
    endpoints: SimEndpoints
    database_path: Path
    evse: Evse

    @property
    def controller(self) -> Controller:
        """The running controller."""
        return self.evse.controller

    @property
    def transactions(self) -> TransactionStore:
        """The running service's transaction store."""
        return self.evse.transactions

    @property
    def database(self) -> Database:
        """The running service's database."""
        return self.evse.database

    async def restart_evse(self, while_down: Callable[[], None] = lambda: None) -> None:
        """Stop evse, do `while_down`, start evse again on the same data directory."""
        await self.evse.close()
        while_down()
        self.evse = await Evse.start(self.profile, self.endpoints, self.database_path)

    @property
    def state(self) -> EvseState:
        """The controller's state now."""
        return self.controller.machine.state

    def led(self) -> LedColour:
        """The colour the LED chip shows now (read back from its registers)."""
        return colour_of(self.chips.led.colour())

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait (bounded) for `condition`; fail with the charger's state if it never holds."""
        for _ in range(int(timeout_s / WAIT_STEP_S)):
            if condition():
                return
            await asyncio.sleep(WAIT_STEP_S)
        raise AssertionError(
            f"condition not met in {timeout_s} s: state {self.state.value}, LED {self.led()},"
            f" car {self.station.car.status()}, faults {sorted(self.controller.faults.kinds)}"
        )

    async def until_state(self, state: EvseState, timeout_s: float = 5.0) -> None:
        """Wait for the controller to reach `state`."""
        await self.until(lambda: self.state is state, timeout_s)

    async def until_led(self, colour: LedColour, timeout_s: float = 5.0) -> None:
        """Wait for the LED chip to show `colour`."""
        await self.until(lambda: self.led() is colour, timeout_s)

    async def present_card(self, uid: str, hold_s: float = 0.5) -> None:
        """Hold a card in front of the reader, then take it away."""
        self.chips.rfid.present_card(uid)
        await asyncio.sleep(hold_s)
        self.chips.rfid.remove_card()
        await asyncio.sleep(CARD_GONE_S)

    async def start_charging(
        self, uid: str = "FB433810", capacity_kwh: float | None = None
    ) -> None:
        """Plug in, present the card, and wait until current flows."""
        self.plug(capacity_kwh)
        await self.until_state(EvseState.CONNECTED)
        await self.present_card(uid)
        await self.until_state(EvseState.CHARGING)
        await self.until(lambda: self.station.board.contactor_closed)

    def plug(self, capacity_kwh: float | None = None) -> None:
        """Plug the car in."""
        self.station.car.plug_in(capacity_kwh=capacity_kwh)

    def unplug(self) -> None:
        """Pull the cable."""
        self.station.car.unplug()


def rig_profile(tmp_path: Path, edit: Callable[[str], str] = lambda text: text) -> Path:
    """A copy of the simulated profile, optionally edited, as the active profile."""
    target = tmp_path / "profile.yaml"
    target.write_text(edit(SIMULATED.read_text(encoding="utf-8")), encoding="utf-8")
    return target


@contextlib.asynccontextmanager
async def running_charger(
    tmp_path: Path,
    profile_path: Path | None = None,
    car: CarSpec = FAST_CAR,
    database_path: Path | None = None,
) -> AsyncIterator[Rig]:
    """Start the simulated devices and the controller; stop both afterwards."""
    profile = load_profile(profile_path or rig_profile(tmp_path)).profile
    station = SimStation(car=SimCar(car))
    modbus = serve_station(
        station,
        power_board_unit=profile.hardware.power_board_address,
        meter_unit=profile.metering.internal_meter.modbus_address,
    )
    ports = await modbus.start()
    chips = ChargerI2c.from_config(profile.hardware.i2c)
    socket_dir = Path(shutil.os.environ.get("TMPDIR", "/tmp"))  # short path: sun_path limit
    i2c_socket = socket_dir / f"chargeos-i2c-{id(chips)}.sock"
    i2c_server = SmbusDoubleServer(chips.double, i2c_socket)
    await i2c_server.start()
    endpoints = SimEndpoints(
        internal_port=ports["internal"],
        external_port=ports["internal"],
        i2c_socket=str(i2c_socket),
        control_socket="",
    )
    database_path = database_path or tmp_path / "chargeos.db"
    ticking = asyncio.create_task(station.run())
    evse = await Evse.start(profile, endpoints, database_path)
    rig = Rig(profile, station, chips, modbus, endpoints, database_path, evse)
    try:
        yield rig
    finally:
        await rig.evse.close()
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await i2c_server.close()
        await modbus.stop()
