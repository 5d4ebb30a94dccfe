"""IEC 61851-1 pilot signalling and timing: the normative numbers in one place.

Every constant names its clause, so a reviewer can check it against the standard.
"""

from __future__ import annotations

from runtime.hardware.types import CpState

# IEC 61851-1:2017 Annex A, Table A.8: lowest current a PWM duty cycle can signal.
MIN_CURRENT_A = 6.0
# Table A.8: 10 % .. 85 % duty signals 6 .. 51 A (A = duty% x 0.6).
LOW_RANGE_MAX_A = 51.0
# Table A.8: 85 % .. 96 % duty signals 51 .. 80 A (A = (duty% - 64) x 2.5).
HIGH_RANGE_MAX_A = 80.0
# Pilot without PWM: steady +12 V (state X1, "EVSE not ready to supply"), -12 V (state F).
PWM_OFF_PERMILLE = 1000
PILOT_FAULT_PERMILLE = 0

# Table A.6 seq. 7 (C -> B by the EV): the EVSE opens the contactor within 100 ms.
CONTACTOR_OFF_AFTER_EV_STOP_S = 0.1
# Table A.6 seq. 10.2: after PWM off, if the EV stays in C, the EVSE opens within 6 s.
FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S = 6.0
# Table A.6 seq. 9.2 / A.2.3: the EV follows a new duty cycle within 5 s, so the EVSE does not
# raise the offered current more often than that (lowering is immediate, for safety).
MIN_PWM_RAISE_INTERVAL_S = 5.0
# The contactor must not open or close in less than this after its last change (relay life);
# IEC 61851-1 sets no number, the relay's datasheet does.
CONTACTOR_SETTLE_S = 0.05

CONNECTED_STATES = frozenset({CpState.B, CpState.C, CpState.D})
PILOT_ERROR_STATES = frozenset({CpState.E, CpState.F})


def requests_energy(cp: CpState, *, ventilation_available: bool) -> bool:
    """The car asks for energy this EVSE may give: state C, or D where ventilation is provided.

    Table A.3: in D the car is ready and needs the charging area ventilated; 6.3.2 makes
    ventilation an optional EVSE function, and charging in D is allowed only where it is provided.
    """
    return cp is CpState.C or (cp is CpState.D and ventilation_available)


def ventilation_missing(cp: CpState, *, ventilation_available: bool) -> bool:
    """The car asks for energy in D (ventilation required) and the EVSE provides none."""
    return cp is CpState.D and not requests_energy(cp, ventilation_available=ventilation_available)


def duty_permille_for_current(current_a: float) -> int:
    """PWM duty (0.1 % units) offering `current_a` per Table A.8; below 6 A: no PWM."""
    if current_a < MIN_CURRENT_A:
        return PWM_OFF_PERMILLE
    current_a = min(current_a, HIGH_RANGE_MAX_A)
    if current_a <= LOW_RANGE_MAX_A:
        return int(current_a / 0.6 * 10)
    return int((current_a / 2.5 + 64) * 10)


def current_for_duty_permille(duty_permille: int) -> float:
    """The current a duty cycle offers (inverse of duty_permille_for_current); 0 = none."""
    percent = duty_permille / 10
    if 8 <= percent < 10:
        return MIN_CURRENT_A
    if 10 <= percent <= 85:
        return percent * 0.6
    if 85 < percent <= 96:
        return (percent - 64) * 2.5
    return 0.0
