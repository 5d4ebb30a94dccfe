"""What each charger state means to the outside: LED, OCPP connector status, pilot, contactor.

This table is the manual's LED table (SPEC "LED colours") joined with OCPP's connector
statuses; the state machine decides *which* state, this decides what it looks like.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from runtime.hardware.types import Rgbw


class EvseState(Enum):
    """States of the charging controller (one EVSE)."""

    BOOTING = "booting"
    AVAILABLE = "available"
    AUTHORIZED = "authorized"  # card accepted, no cable yet
    CONNECTED = "connected"  # cable in, not authorized
    SUSPENDED_EV = "suspended_ev"  # session, pilot PWM on, the car does not draw (yet, or full)
    SUSPENDED_EVSE = "suspended_evse"  # session, no power available for the car
    CHARGING = "charging"
    FINISHING = "finishing"  # session stopped, cable still in
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"


class LedColour(StrEnum):
    """Colours of the RGBW status LED (manual 5.1)."""

    OFF = "off"
    WHITE = "white"
    GREEN = "green"
    YELLOW = "yellow"
    LIGHT_BLUE = "light_blue"
    BLUE = "blue"
    RED = "red"


class ConnectorStatus(StrEnum):
    """OCPP ChargePointStatus (1.6) / ConnectorStatus mapping (2.0.1 maps these further)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"


class Pilot(StrEnum):
    """What the control pilot signals in a state."""

    OFF = "off"  # steady +12 V: not ready to supply (state X1)
    PWM = "pwm"  # duty cycle offering the current limit
    FAULT = "fault"  # steady -12 V: state F, EVSE not available


@dataclass(frozen=True)
class StateLook:
    """How a state shows: LED colour, OCPP status, pilot and whether a session is open."""

    led: LedColour
    ocpp: ConnectorStatus
    pilot: Pilot
    contactor: bool
    in_session: bool


S, L, C = EvseState, LedColour, ConnectorStatus
STATE_LOOKS: dict[EvseState, StateLook] = {
    S.BOOTING: StateLook(L.WHITE, C.UNAVAILABLE, Pilot.OFF, False, False),
    S.AVAILABLE: StateLook(L.GREEN, C.AVAILABLE, Pilot.OFF, False, False),
    S.AUTHORIZED: StateLook(L.YELLOW, C.PREPARING, Pilot.OFF, False, False),
    S.CONNECTED: StateLook(L.YELLOW, C.PREPARING, Pilot.OFF, False, False),
    S.SUSPENDED_EV: StateLook(L.LIGHT_BLUE, C.SUSPENDED_EV, Pilot.PWM, False, True),
    S.SUSPENDED_EVSE: StateLook(L.LIGHT_BLUE, C.SUSPENDED_EVSE, Pilot.OFF, False, True),
    S.CHARGING: StateLook(L.BLUE, C.CHARGING, Pilot.PWM, True, True),
    S.FINISHING: StateLook(L.LIGHT_BLUE, C.FINISHING, Pilot.OFF, False, False),
    S.FAULTED: StateLook(L.RED, C.FAULTED, Pilot.FAULT, False, False),
    S.UNAVAILABLE: StateLook(L.OFF, C.UNAVAILABLE, Pilot.OFF, False, False),
}


# RGBW levels of each colour on the front LED (tuned for the diffuser, not by a standard).
LED_RGBW: dict[LedColour, Rgbw] = {
    L.OFF: Rgbw(0, 0, 0, 0),
    L.WHITE: Rgbw(0, 0, 0, 255),
    L.GREEN: Rgbw(0, 255, 0, 0),
    L.YELLOW: Rgbw(255, 160, 0, 0),
    L.LIGHT_BLUE: Rgbw(0, 160, 255, 40),
    L.BLUE: Rgbw(0, 0, 255, 0),
    L.RED: Rgbw(255, 0, 0, 0),
}


def colour_of(rgbw: Rgbw) -> LedColour:
    """The named colour closest to what the LED shows (the simulation reads the LED back)."""
    return min(
        LED_RGBW,
        key=lambda name: sum(
            (a - b) ** 2
            for a, b in zip(
                (rgbw.red, rgbw.green, rgbw.blue, rgbw.white),
                (
                    LED_RGBW[name].red,
                    LED_RGBW[name].green,
                    LED_RGBW[name].blue,
                    LED_RGBW[name].white,
                ),
                strict=True,
            )
        ),
    )
