"""The whole charger on virtual time: real drivers on in-process buses, thousands of cycles fast.

The register models of the simulated board and meter are reached through LocalModbusBus, the
I2C chips through LocalI2cBus; the controller's clock is the simulation's clock, and every
loop's step is called in a fixed schedule instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.drivers.pn532 import Pn532
from runtime.evse.authorization import Authorizer
from runtime.evse.clock import Clock
from runtime.evse.controller import (
    CARD_PERIOD_S,
    METER_PERIOD_S,
    POLL_PERIOD_S,
    Controller,
)
from runtime.evse.devices import devices_on
from runtime.evse.events import EventHub
from runtime.evse.service import run_controller, start_controller
from runtime.evse.sessions import SessionKeeper
from runtime.evse.states import LedColour, colour_of
from runtime.evse.storage_guard import STORAGE_PERIOD_S
from runtime.persistence.auth_cache import AuthCache
from runtime.persistence.database import Database
from runtime.persistence.latches import LatchStore
from runtime.persistence.transactions import TransactionStore
from runtime.sim.car import CarSpec, SimCar
from runtime.sim.local_modbus import LocalModbusBus
from runtime.sim.smbus_double import ChargerI2c
from runtime.sim.station import SimStation
from schemas import Profile

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CARD_HOLD_S = 3 * CARD_PERIOD_S  # a few reader polls: the card is seen, then its absence


@dataclass
class VirtualTime:
    """Seconds since the start of the run."""

    seconds: float = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.monotonic())


@dataclass
class LoopTime(VirtualTime):
    """An event loop's clock (a `VirtualTimeLoop` in the tests that use it)."""

    loop: asyncio.AbstractEventLoop | None = None

    def monotonic(self) -> float:
        return self.loop.time() if self.loop is not None else self.seconds


class VirtualCharger:
    """A charger whose time only moves when `advance` is called."""

    def __init__(
        self, profile: Profile, database_path: Path, car: CarSpec, time: VirtualTime | None = None
    ) -> None:
        self.profile = profile
        self.time = time or VirtualTime()
        self.station = SimStation(car=SimCar(car))
        hardware = profile.hardware
        meter_unit = profile.metering.internal_meter.modbus_address
        self.bus = LocalModbusBus(
            {hardware.power_board_address: self.station.board, meter_unit: self.station.meter},
            timeout_s=hardware.internal_bus.timeout_s,
        )
        self.chips = ChargerI2c.from_config(hardware.i2c)
        i2c = self.chips.local_bus()
        devices = dataclasses.replace(
            devices_on(profile, self.bus, i2c),
            rfid=Pn532(
                i2c,
                bus_number=hardware.i2c.bus,
                address=hardware.i2c.rfid_reader,
                response_timeout_s=0.05,
            ),
            buzzer=_SilentBuzzer(),
        )
        self.database = Database.open(database_path)
        self.transactions = TransactionStore(self.database)
        clock = Clock(self.time.monotonic, self.time.now)
        events = EventHub(self.time.now)
        sessions = SessionKeeper(self.transactions, 1, clock, events, sample_interval_s=60)
        authorizer = Authorizer(profile.authorization, AuthCache(self.database), lambda: None)
        self.controller = Controller(
            profile, devices, sessions, authorizer, clock, events, LatchStore(self.database)
        )
        self._next = {"meter": 0.0, "card": 0.0, "tilt": 0.0, "storage": 0.0}

    async def advance(self, seconds: float) -> None:
        """Run the simulation and every controller loop for `seconds` of virtual time."""
        for _ in range(max(1, round(seconds / POLL_PERIOD_S))):
            self.time.seconds += POLL_PERIOD_S
            self.station.tick(POLL_PERIOD_S)
            await self.controller.control_step()
            self.after_step()
            if self.time.seconds >= self._next["meter"]:
                self._next["meter"] = self.time.seconds + METER_PERIOD_S
                await self.controller.meter_step()
            if self.time.seconds >= self._next["storage"]:
                self._next["storage"] = self.time.seconds + STORAGE_PERIOD_S
                await self.controller.storage_step()
            if self.time.seconds >= self._next["card"]:
                self._next["card"] = self.time.seconds + CARD_PERIOD_S
                await self.controller.card_step()
                await self.controller.tilt_step()
                await self.controller.led_step()

    async def advance_until(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Advance poll by poll until `condition` holds; fail after `timeout_s` of virtual time."""
        for _ in range(round(timeout_s / POLL_PERIOD_S)):
            if condition():
                return
            await self.advance(POLL_PERIOD_S)
        raise AssertionError(
            f"condition not met in {timeout_s} s of virtual time: "
            f"state {self.controller.machine.state.value}, car {self.station.car.status()}"
        )

    async def led_colour(self) -> LedColour:
        """The colour the LED chip shows after the LED loop's next refresh."""
        await self.controller.led_step()
        return colour_of(self.chips.led.colour())

    async def present_card(self, uid: str) -> None:
        """Hold a card up long enough for the reader to see it, then take it away."""
        self.chips.rfid.present_card(uid)
        await self.advance(CARD_HOLD_S)
        self.chips.rfid.remove_card()
        await self.advance(CARD_HOLD_S)

    def after_step(self) -> None:
        """Hook for invariant checks after every control step."""

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[asyncio.Event]:
        """The evse service's own loops and the station's ticks, on the loop's clock.

        For a `VirtualTimeLoop` with `LoopTime`: everything runs concurrently, as in the
        service; the yielded event stops the service (as SIGTERM or a reset does).
        """
        stop = asyncio.Event()
        ticking = asyncio.create_task(self.station.run())
        await start_controller(self.controller)
        running = asyncio.create_task(run_controller(self.controller, stop))
        try:
            yield stop
        finally:
            stop.set()
            await running
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking

    def close(self) -> None:
        """Release the database."""
        self.database.close()


class _SilentBuzzer:
    """The buzzer beeps for real time; on virtual time it only counts."""

    def __init__(self) -> None:
        self.beeps = 0

    async def beep(self, duration_s: float) -> None:
        self.beeps += 1
