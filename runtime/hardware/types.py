"""What the devices report, as frozen dataclasses: the only hardware data the logic sees.

Drivers decode bus replies into these; the simulation and the tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CpState(StrEnum):
    """IEC 61851-1 control pilot states as measured by the power board."""

    A = "A"  # +12 V: no vehicle
    B = "B"  # +9 V: vehicle connected, not ready
    C = "C"  # +6 V: vehicle ready, charging
    D = "D"  # +3 V: vehicle ready, ventilation required
    E = "E"  # 0 V: short circuit or no power on the pilot
    F = "F"  # -12 V: EVSE not available / pilot fault


@dataclass(frozen=True)
class PowerBoardInfo:
    """Identity of the EVSE power board (from its Modbus identification registers)."""

    vendor_id: str
    firmware_version: str
    serial_number: int


@dataclass(frozen=True)
class PowerBoardStatus:
    """One poll of the EVSE power board."""

    cp_state: CpState
    cp_high_mv: int
    cp_low_mv: int
    pwm_duty_permille: int  # what the board is generating now; 1000 = steady +12 V (no PWM)
    contactor_closed: bool  # auxiliary contact feedback
    relay_welded: bool
    rcm_dc_fault: bool  # 6 mA DC residual current (IEC 62955), latched by the board
    diode_fault: bool  # CP negative half-wave missing while PWM is on
    temperature_c: float  # EVSE temperature
    heartbeat: int  # increments every board cycle; a frozen value means a hung board
    analog_clamp_currents_a: tuple[float, float, float]  # CT1..CT3 on the screw terminals


@dataclass(frozen=True)
class MeterReading:
    """One reading of a kWh meter (the MID meter is billing data)."""

    energy_import_kwh: float
    energy_export_kwh: float
    power_w: float
    voltages_v: tuple[float, float, float]
    currents_a: tuple[float, float, float]
    frequency_hz: float


@dataclass(frozen=True)
class MeterInfo:
    """What a kWh meter says it is."""

    model: str
    serial_number: int


@dataclass(frozen=True)
class Acceleration:
    """Accelerometer sample in g along the board's axes (z points up when mounted)."""

    x_g: float
    y_g: float
    z_g: float


@dataclass(frozen=True)
class Rgbw:
    """An LED colour as RGBW channel levels 0..255."""

    red: int
    green: int
    blue: int
    white: int = 0
