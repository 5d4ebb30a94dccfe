"""Test rig: a simulated station served on loopback and the real Modbus drivers talking to it.

`run_rig(scenario)` starts the server on 127.0.0.1 (port 0), opens a loopback bus, hands the
scenario the station, server, bus and drivers, and tears everything down afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from runtime.drivers.modbus import ModbusBus
from runtime.drivers.power_board import ModbusPowerBoard
from runtime.drivers.sdm_meter import SdmMeter
from runtime.sim.meter import SimMeter
from runtime.sim.modbus_server import INTERNAL_BUS, LOOPBACK, SimModbusServer
from runtime.sim.station import SimStation, serve_station
from schemas.metering import MeterType

BOARD_UNIT = 1
METER_UNIT = 2
# Short enough to keep the silent-device tests quick, long enough for a loaded CI machine.
TEST_TIMEOUT_S = 0.15


@dataclass(frozen=True)
class Rig:
    """Everything a scenario needs."""

    station: SimStation
    server: SimModbusServer
    bus: ModbusBus
    board: ModbusPowerBoard
    meter: SdmMeter

    @property
    def where_board(self) -> str:
        return f"sim tcp {LOOPBACK}:{self.server.port()} unit {BOARD_UNIT}"

    @property
    def where_meter(self) -> str:
        return f"sim tcp {LOOPBACK}:{self.server.port()} unit {METER_UNIT}"


@asynccontextmanager
async def rig(
    station: SimStation | None = None, *, meter_model: MeterType = "sdm630"
) -> AsyncIterator[Rig]:
    """A started server around `station` and drivers connected to it."""
    station = station or SimStation(meter=SimMeter(meter_model))
    server = serve_station(station, power_board_unit=BOARD_UNIT, meter_unit=METER_UNIT)
    ports = await server.start()
    bus = ModbusBus.loopback(LOOPBACK, ports[INTERNAL_BUS], timeout_s=TEST_TIMEOUT_S)
    try:
        yield Rig(
            station,
            server,
            bus,
            ModbusPowerBoard(bus, BOARD_UNIT),
            SdmMeter(bus, METER_UNIT, station.meter.model),
        )
    finally:
        await bus.close()
        await server.stop()


def run_rig(
    scenario: Callable[[Rig], Awaitable[None]],
    station: SimStation | None = None,
    *,
    meter_model: MeterType = "sdm630",
) -> None:
    """Run `scenario` against a fresh rig in its own event loop."""

    async def main() -> None:
        async with rig(station, meter_model=meter_model) as the_rig:
            await scenario(the_rig)

    asyncio.run(main())
