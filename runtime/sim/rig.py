"""The whole simulated charger built from a profile: station, Modbus buses and I2C chips.

`SimRig` is what the simulation process runs and its control API acts on: plug a car, hold
a card, inject faults (each one a line of `FAULTS`), clear them, power-cycle the board. It
owns no sockets; `runtime.sim.process` serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.evse.states import colour_of
from runtime.sim.api_models import (
    BoardView,
    CarView,
    LedView,
    MeterView,
    PlugRequest,
    ReaderView,
    SimFault,
    SimStatus,
)
from runtime.sim.car import CarFault, CarSpec, SimCar
from runtime.sim.meter import SimMeter
from runtime.sim.modbus_server import EXTERNAL_BUS, INTERNAL_BUS, BusFault, SimModbusServer
from runtime.sim.smbus_double import ChargerI2c
from runtime.sim.station import TICK_PERIOD_S, SimStation, run_ticks, serve_station
from schemas import Profile
from schemas.metering import ModbusMeterMetering

TILT_DEG = 45.0  # well past any Tilt Angle setting a charger ships with (1..80°, default 20°)
BUMP_G = 12.0  # above the default 7 g Bump Acceleration
HOT_C = 90.0  # above the usual 85 °C stop temperature
AMBIENT_C = 25.0
DEFAULT_CAR = CarSpec(phases=3, max_current_a=16.0, capacity_kwh=20.0)


class SimConflict(Exception):
    """A command that makes no sense in the simulation's present state (HTTP 409)."""


@dataclass
class SimRig:
    """A charger's simulated hardware, wired as its profile says."""

    profile: Profile
    station: SimStation
    modbus: SimModbusServer
    chips: ChargerI2c
    default_car: CarSpec
    external_meter: SimMeter | None = None
    injected: list[SimFault] = field(default_factory=list)

    @classmethod
    def from_profile(cls, profile: Profile) -> SimRig:
        """The board, meters, car and chips at the buses and addresses of `profile`."""
        phases = profile.electrical.phases
        car_spec = CarSpec(
            phases=phases,
            max_current_a=DEFAULT_CAR.max_current_a,
            capacity_kwh=DEFAULT_CAR.capacity_kwh,
        )
        internal = profile.metering.internal_meter
        station = SimStation(meter=SimMeter(internal.type), car=SimCar(car_spec))
        modbus = serve_station(
            station,
            power_board_unit=profile.hardware.power_board_address,
            meter_unit=internal.modbus_address,
        )
        modbus.bus(EXTERNAL_BUS)  # listens even when nothing is wired to it yet
        external = profile.metering.external
        external_meter = None
        if isinstance(external, ModbusMeterMetering):
            external_meter = SimMeter(external.type, serial_number=21_000_456)
            modbus.add_device(external.modbus_address, external_meter, bus=EXTERNAL_BUS)
        chips = ChargerI2c.from_config(profile.hardware.i2c)
        return cls(profile, station, modbus, chips, car_spec, external_meter)

    # Time ----------------------------------------------------------------------------------

    def tick(self, dt_s: float) -> None:
        """Advance the station; the external meter sees the site's load plus the car's."""
        self.station.tick(dt_s)
        if self.external_meter is not None:
            self.external_meter.currents_a = self.station.board.clamp_currents_a
            self.external_meter.tick(dt_s)

    async def run(self, *, period_s: float = TICK_PERIOD_S) -> None:
        """Tick with the event loop's clock until cancelled."""
        await run_ticks(self.tick, period_s)

    # The car -------------------------------------------------------------------------------

    @property
    def car(self) -> SimCar:
        """The car on the cable (or the one that will be plugged in next)."""
        return self.station.car

    def plug(self, request: PlugRequest) -> str:
        """Plug a car in (a different model when phases or max current are given).

        With `request.ventilation` the car asks for energy in state D instead of C.
        """
        if self.car.plugged:
            raise SimConflict("a car is already plugged in; unplug it first")
        if request.phases is not None or request.max_current_a is not None:
            base = self.default_car
            spec = CarSpec(
                phases=request.phases if request.phases is not None else base.phases,
                max_current_a=(
                    request.max_current_a
                    if request.max_current_a is not None
                    else base.max_current_a
                ),
                capacity_kwh=base.capacity_kwh,
            )
            car = SimCar(spec)
            car.misbehave(self.car.fault)
            self.station.car = car
        self.car.plug_in(capacity_kwh=request.capacity_kwh, ventilation=request.ventilation)
        spec = self.car.spec
        ventilation = ", needs ventilation (state D)" if request.ventilation else ""
        return (
            f"car plugged in: {spec.phases} phase(s), {spec.max_current_a:g} A, "
            f"takes {self.car.capacity_kwh:g} kWh{ventilation}"
        )

    def unplug(self) -> str:
        """Pull the cable out of the car."""
        if not self.car.plugged:
            raise SimConflict("no car is plugged in")
        self.car.unplug()
        return "car unplugged"

    def fill(self) -> str:
        """The car's battery is full now: it stops drawing and returns to state B."""
        if not self.car.plugged:
            raise SimConflict("no car is plugged in")
        self.car.become_full()
        return f"car full after {self.car.energy_kwh:.3f} kWh"

    # Faults --------------------------------------------------------------------------------

    def inject(self, kind: SimFault) -> str:
        """Break one thing; `clear()` repairs it (the RCM latch needs `power_cycle()`)."""
        action, words = FAULTS[kind]
        action(self)
        if kind not in self.injected:
            self.injected.append(kind)
        return f"fault injected: {words}"

    def clear(self) -> str:
        """Undo every injected condition; the board's RCM latch stays until a power cycle."""
        self.car.misbehave(CarFault.NONE)
        board = self.station.board
        board.temperature_c = AMBIENT_C
        board.replace_contactor()
        board.resume()
        self.chips.accelerometer.tilt(0.0)
        self.chips.accelerometer.bump(0.0, samples=0)
        self.chips.rfid.answering = True
        self.chips.accelerometer.answering = True
        self.chips.led.answering = True
        for unit in self._internal_units():
            self.modbus.set_fault(unit, BusFault.NONE, bus=INTERNAL_BUS)
        self.injected.clear()
        note = " (the RCM latch stays until power-cycle)" if board.rcm_latched else ""
        return "injected conditions cleared" + note

    def power_cycle(self) -> str:
        """Switch the power board off and on: its latches clear, its commands reset."""
        self.station.board.power_cycle()
        if SimFault.RCM in self.injected:
            self.injected.remove(SimFault.RCM)
        return "power board power-cycled: latches cleared"

    def set_temperature(self, celsius: float) -> str:
        """The EVSE temperature the board measures."""
        self.station.board.temperature_c = celsius
        return f"EVSE temperature {celsius:g} °C"

    def set_site_load(self, currents_a: tuple[float, float, float]) -> str:
        """The building's own load on L1..L3."""
        self.station.site_load_a = currents_a
        return "site load " + " / ".join(f"{a:g}" for a in currents_a) + " A"

    def _internal_units(self) -> tuple[int, int]:
        return (
            self.profile.hardware.power_board_address,
            self.profile.metering.internal_meter.modbus_address,
        )

    # Status --------------------------------------------------------------------------------

    def status(self) -> SimStatus:
        """Everything the simulation knows now (without the evse service's view)."""
        station, chips = self.station, self.chips
        car, board = self.car.status(), station.board.status()
        _, meter_unit = self._internal_units()
        acceleration = chips.accelerometer.acceleration
        rgbw = chips.led.colour()
        return SimStatus(
            time_s=round(station.time_s, 3),
            car=CarView(
                plugged=car.plugged,
                cp=car.cp_state.value,
                full=car.full,
                fault=car.fault.value,
                needs_ventilation=car.needs_ventilation,
                phases=self.car.spec.phases,
                max_current_a=self.car.spec.max_current_a,
                capacity_kwh=self.car.capacity_kwh,
                offered_current_a=car.offered_current_a,
                currents_a=car.currents_a,
                energy_kwh=car.energy_kwh,
            ),
            board=BoardView(
                cp_state=board.cp_state.value,
                duty_permille=station.board.pilot_duty_permille,  # what really drives the pilot
                contactor_closed=station.board.contactor_closed,  # even while hung
                relay_welded=station.board.relay_welded,
                rcm_dc_fault=board.rcm_dc_fault,
                diode_fault=board.diode_fault,
                watchdog_tripped=station.board.watchdog_tripped,
                temperature_c=board.temperature_c,
                answering=SimFault.BOARD not in self.injected,
                hung=station.board.hung,
            ),
            meter=_meter_view(
                station.meter, meter_unit, answering=SimFault.METER not in self.injected
            ),
            external_meter=self._external_meter_view(),
            site_load_a=station.site_load_a,
            led=LedView(
                colour=colour_of(rgbw).value,
                rgbw=(rgbw.red, rgbw.green, rgbw.blue, rgbw.white),
                beeps=chips.led.beeps,
                answering=chips.led.answering,
            ),
            reader=ReaderView(card=chips.rfid.card_uid, answering=chips.rfid.answering),
            acceleration_g=(acceleration.x_g, acceleration.y_g, acceleration.z_g),
            accelerometer_answering=chips.accelerometer.answering,
            injected=tuple(self.injected),
        )

    def _external_meter_view(self) -> MeterView | None:
        external = self.profile.metering.external
        if self.external_meter is None or not isinstance(external, ModbusMeterMetering):
            return None
        return _meter_view(self.external_meter, external.modbus_address, answering=True)


def _meter_view(meter: SimMeter, address: int, *, answering: bool) -> MeterView:
    return MeterView(
        address=address,
        type=meter.model,
        energy_import_kwh=meter.energy_import_kwh,
        power_w=meter.power_w,
        currents_a=meter.currents_a,
        answering=answering,
    )


def _set_car_fault(fault: CarFault) -> Callable[[SimRig], None]:
    def act(rig: SimRig) -> None:
        rig.car.misbehave(fault)

    return act


def _silence_meter(rig: SimRig) -> None:
    unit = rig.profile.metering.internal_meter.modbus_address
    rig.modbus.set_fault(unit, BusFault.SILENT, bus=INTERNAL_BUS)


def _flaky_meter(rig: SimRig) -> None:
    unit = rig.profile.metering.internal_meter.modbus_address
    rig.modbus.set_fault(unit, BusFault.FLAKY, bus=INTERNAL_BUS)


def _silence_board(rig: SimRig) -> None:
    unit = rig.profile.hardware.power_board_address
    rig.modbus.set_fault(unit, BusFault.SILENT, bus=INTERNAL_BUS)


def _set_temperature(rig: SimRig) -> None:
    rig.station.board.temperature_c = HOT_C


def _silence_reader(rig: SimRig) -> None:
    rig.chips.rfid.answering = False


def _silence_accelerometer(rig: SimRig) -> None:
    rig.chips.accelerometer.answering = False


def _silence_led(rig: SimRig) -> None:
    rig.chips.led.answering = False


# What each fault does to the simulated hardware, and how the CLI says it.
FAULTS: dict[SimFault, tuple[Callable[[SimRig], None], str]] = {
    SimFault.RCM: (
        lambda rig: rig.station.board.inject_rcm_fault(),
        "6 mA DC residual current, latched by the power board",
    ),
    SimFault.CP: (_set_car_fault(CarFault.CP_SHORT), "control pilot shorted to PE (state E)"),
    SimFault.DIODE: (_set_car_fault(CarFault.DIODE), "the car's CP diode is missing"),
    SimFault.OVERCURRENT: (
        _set_car_fault(CarFault.OVERCURRENT),
        "the car draws more than the pilot offers",
    ),
    SimFault.TILT: (
        lambda rig: rig.chips.accelerometer.tilt(TILT_DEG),
        f"the charger leans {TILT_DEG:g}°",
    ),
    SimFault.BUMP: (lambda rig: rig.chips.accelerometer.bump(BUMP_G), f"a {BUMP_G:g} g bump"),
    SimFault.TEMP: (_set_temperature, f"EVSE temperature {HOT_C:g} °C"),
    SimFault.WELD: (
        lambda rig: rig.station.board.weld_relay(),
        "the contactor welds (once closed it stays closed)",
    ),
    SimFault.METER: (_silence_meter, "the MID meter stops answering"),
    SimFault.BOARD: (_silence_board, "the power board stops answering"),
    SimFault.READER: (_silence_reader, "the RFID reader stops answering"),
    SimFault.ACCELEROMETER: (_silence_accelerometer, "the accelerometer stops answering"),
    SimFault.LED: (_silence_led, "the LED driver (and buzzer) stops answering"),
    SimFault.METER_FLAKY: (_flaky_meter, "every other MID meter reply is lost or garbled"),
    SimFault.BOARD_HANG: (
        lambda rig: rig.station.board.hang(),
        "the power board's firmware hangs: it answers, but heartbeat and measurements freeze",
    ),
}
