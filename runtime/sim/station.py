"""The simulation core: car ↔ power board ↔ meter, advanced together by `tick(dt_s)`.

The board's pilot and contactor drive the car; the car's draw flows through the meter and,
with the site's own load, through the CT clamps on the board. The simulation process runs
`run()` (about every 20 ms); tests call `tick()` directly, so time is theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from runtime.hardware.types import PowerBoardStatus
from runtime.sim.car import CarStatus, SimCar
from runtime.sim.meter import SimMeter
from runtime.sim.modbus_server import INTERNAL_BUS, LOOPBACK, SimModbusServer
from runtime.sim.power_board import SimPowerBoard

# The simulated hardware moves in 20 ms steps: one 50 Hz mains period, the contactor's
# actuation delay, and well inside the 100 ms in which the EVSE must react to pilot changes.
TICK_PERIOD_S = 0.02


@dataclass(frozen=True)
class StationSnapshot:
    """Everything the simulation knows, for the simulation CLI."""

    time_s: float
    board: PowerBoardStatus
    car: CarStatus
    meter_energy_import_kwh: float
    meter_power_w: float
    site_load_a: tuple[float, float, float]


class SimStation:
    """A charger's simulated hardware around one car."""

    def __init__(
        self,
        *,
        board: SimPowerBoard | None = None,
        meter: SimMeter | None = None,
        car: SimCar | None = None,
        site_load_a: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        self.board = board or SimPowerBoard()
        self.meter = meter or SimMeter()
        self.car = car or SimCar()
        self.site_load_a = site_load_a  # the building's own load on the analog CT clamps
        self.time_s = 0.0
        self._couple()

    def tick(self, dt_s: float) -> None:
        """Advance the whole station by `dt_s` seconds."""
        if dt_s < 0:
            raise ValueError(f"time does not run backwards (dt {dt_s} s)")
        self.time_s += dt_s
        self._couple()
        self.board.tick(dt_s)
        self.car.tick(
            dt_s,
            duty_permille=self.board.pilot_duty_permille,
            energized=self.board.contactor_closed,
            voltages_v=self.meter.voltages_v,
        )
        self.meter.currents_a = self.car.currents_a
        self.meter.tick(dt_s)
        self._couple()

    def advance(self, duration_s: float, *, step_s: float = TICK_PERIOD_S) -> None:
        """Tick in `step_s` steps until `duration_s` has passed (for tests and scenarios)."""
        steps = max(1, round(duration_s / step_s))
        for _ in range(steps):
            self.tick(duration_s / steps)

    def _couple(self) -> None:
        self.board.connect_pilot(self.car.cp_state, diode_ok=self.car.diode_ok)
        self.board.clamp_currents_a = (
            self.site_load_a[0] + self.car.currents_a[0],
            self.site_load_a[1] + self.car.currents_a[1],
            self.site_load_a[2] + self.car.currents_a[2],
        )

    def snapshot(self) -> StationSnapshot:
        """A snapshot of the whole station."""
        return StationSnapshot(
            time_s=self.time_s,
            board=self.board.status(),
            car=self.car.status(),
            meter_energy_import_kwh=self.meter.energy_import_kwh,
            meter_power_w=self.meter.power_w,
            site_load_a=self.site_load_a,
        )

    async def run(self, *, period_s: float = TICK_PERIOD_S) -> None:
        """Tick with the event loop's clock until cancelled (the simulation process)."""
        await run_ticks(self.tick, period_s)


async def run_ticks(tick: Callable[[float], None], period_s: float = TICK_PERIOD_S) -> None:
    """Call `tick(dt)` every `period_s` with the real time passed, until cancelled."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(period_s)
        now = loop.time()
        tick(now - last)
        last = now


def serve_station(
    station: SimStation,
    *,
    power_board_unit: int = 1,
    meter_unit: int = 2,
    host: str = LOOPBACK,
    port: int = 0,
) -> SimModbusServer:
    """A server with the station's board and meter on the internal bus (call `start()`)."""
    server = SimModbusServer(host=host, ports={INTERNAL_BUS: port})
    server.add_device(power_board_unit, station.board, bus=INTERNAL_BUS)
    server.add_device(meter_unit, station.meter, bus=INTERNAL_BUS)
    return server
