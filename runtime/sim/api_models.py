"""The simulation's control API as data: request bodies, fault kinds and the status snapshot.

The control server validates every request with these models and the CLI reads the status
back with the same ones, so both ends agree on field names and bounds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# ISO 14443A UIDs are 4, 7 or 10 bytes (single, double, triple size).
UID_BYTES = (4, 7, 10)


class SimFault(StrEnum):
    """What `POST /fault` can break (the simulation CLI's `fault KIND`)."""

    RCM = "rcm"  # 6 mA DC residual current: the board latches it until a power cycle
    CP = "cp"  # pilot shorted to PE: state E
    DIODE = "diode"  # the car's CP diode is missing
    OVERCURRENT = "overcurrent"  # the car draws more than the pilot offers
    TILT = "tilt"  # the charger leans 45 degrees
    BUMP = "bump"  # a 12 g knock
    TEMP = "temp"  # the EVSE temperature rises to 90 degrees C
    WELD = "weld"  # the contactor welds once closed
    METER = "meter"  # the MID meter stops answering on the internal bus
    BOARD = "board"  # the power board stops answering on the internal bus
    READER = "reader"  # the PN532 stops acknowledging its I2C address
    ACCELEROMETER = "accelerometer"  # the LIS3DH stops acknowledging its I2C address
    LED = "led"  # the PCA9634 LED driver (and its buzzer) stops acknowledging its I2C address
    METER_FLAKY = "meter-flaky"  # every other MID meter reply lost or garbled
    BOARD_HANG = "board-hang"  # the board answers, but its heartbeat and measurements freeze


class Request(BaseModel):
    """Base of the request bodies: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PlugRequest(Request):
    """Plug a car in; unset fields keep the simulation's default car."""

    capacity_kwh: float | None = Field(None, ge=0, le=200, description="Energy it takes [kWh]")
    phases: Literal[1, 3] | None = Field(None, description="Phases of its onboard charger")
    max_current_a: float | None = Field(
        None, ge=1, le=80, description="Onboard charger limit per phase [A]"
    )
    ventilation: bool = Field(
        False, description="The car needs ventilation: it requests state D instead of C"
    )


class CardRequest(Request):
    """Hold an RFID card in front of the reader."""

    uid: str = Field(description="Card UID, hex (4, 7 or 10 bytes)")
    hold_s: float = Field(1.0, ge=0.05, le=600, description="How long the card stays [s]")

    @field_validator("uid")
    @classmethod
    def uid_is_iso14443a(cls, uid: str) -> str:
        """The UID is hex of a 4, 7 or 10 byte ISO 14443A UID; returned upper-case."""
        try:
            raw = bytes.fromhex(uid)
        except ValueError:
            raise ValueError(f"UID {uid!r} is not hex") from None
        if len(raw) not in UID_BYTES:
            raise ValueError(f"UID {uid} has {len(raw)} bytes; ISO 14443A UIDs have 4, 7 or 10")
        return raw.hex().upper()


class FaultRequest(Request):
    """Inject one fault."""

    kind: SimFault


class TemperatureRequest(Request):
    """Set the EVSE temperature the power board measures."""

    celsius: float = Field(ge=-40, le=150, description="EVSE temperature [°C]")


class SiteLoadRequest(Request):
    """Set the building's own load on L1..L3 (negative: export)."""

    currents_a: tuple[float, float, float] = Field(description="Site load L1..L3 [A]")

    @field_validator("currents_a")
    @classmethod
    def currents_are_plausible(cls, currents: tuple[float, float, float]) -> tuple[float, ...]:
        """Each phase within ±2000 A (the largest CT clamp)."""
        if any(abs(current) > 2000 for current in currents):
            raise ValueError(f"site load {currents} A: each phase must be within ±2000 A")
        return currents


class Reply(BaseModel):
    """A command's answer: what happened, in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: str


class Snapshot(BaseModel):
    """Base of the status models."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CarView(Snapshot):
    """The simulated car."""

    plugged: bool
    cp: str  # what the car presents on the pilot
    full: bool
    fault: str
    needs_ventilation: bool  # asks for energy in state D instead of C
    phases: int
    max_current_a: float
    capacity_kwh: float
    offered_current_a: float
    currents_a: tuple[float, float, float]
    energy_kwh: float


class BoardView(Snapshot):
    """The simulated power board: its outputs as they are, its measurements as it reports them."""

    cp_state: str  # what the board measures on the pilot
    duty_permille: int
    contactor_closed: bool
    relay_welded: bool
    rcm_dc_fault: bool
    diode_fault: bool
    watchdog_tripped: bool
    temperature_c: float
    answering: bool
    hung: bool = False


class MeterView(Snapshot):
    """A simulated kWh meter."""

    address: int
    type: str
    energy_import_kwh: float
    power_w: float
    currents_a: tuple[float, float, float]
    answering: bool


class LedView(Snapshot):
    """The status LED as the PCA9634's outputs drive it."""

    colour: str
    rgbw: tuple[int, int, int, int]
    beeps: int
    answering: bool = True


class ReaderView(Snapshot):
    """The PN532 RFID reader."""

    card: str | None
    answering: bool


class EvseView(BaseModel):
    """The part of the `evse` service's `GET /status` the simulation shows (others ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: str
    led: str | None = None
    ocpp_status: str | None = None
    cp_state: str | None = None
    transaction: dict[str, Any] | None = None
    faults: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()


class SimStatus(Snapshot):
    """Everything the simulation knows, plus the evse service's view when it answers."""

    time_s: float
    car: CarView
    board: BoardView
    meter: MeterView
    external_meter: MeterView | None
    site_load_a: tuple[float, float, float]
    led: LedView
    reader: ReaderView
    acceleration_g: tuple[float, float, float]
    accelerometer_answering: bool = True
    injected: tuple[SimFault, ...]
    evse: EvseView | None = None
    evse_error: str | None = None
