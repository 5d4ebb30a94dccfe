"""IEC 61851-1 Table A.8: the control pilot duty cycle ↔ the current an EV may draw.

Pure functions over the duty in permille (as the power board takes it) and amps per phase.
The simulated car reads the limit with `offered_current_a`; `duty_for_current` is the inverse
an EVSE uses to offer a limit (rounded so that it never offers more than asked).
"""

from __future__ import annotations

import math

# Table A.8 breakpoints, in permille of duty.
NO_CHARGING_BELOW = 80  # < 8 %: digital communication or error, no charging
TEN_PERCENT = 100  # 8..10 %: 6 A
LINEAR_LIMIT = 850  # 10..85 %: A = duty % * 0.6
HIGH_LIMIT = 960  # 85..96 %: A = (duty % - 64) * 2.5
NO_CHARGING_ABOVE = 970  # 96..97 %: 80 A; > 97 %: no charging
MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
# The table jumps at 85 %: 85 * 0.6 = 51 A, just above it (85.1 - 64) * 2.5 = 52.75 A.
_LINEAR_TOP_A = 51.0


def offered_current_a(duty_permille: int) -> float:
    """Current limit per phase for a pilot duty; 0.0 where the table allows no charging."""
    if duty_permille < NO_CHARGING_BELOW or duty_permille > NO_CHARGING_ABOVE:
        return 0.0
    if duty_permille < TEN_PERCENT:
        return MIN_CURRENT_A
    if duty_permille <= LINEAR_LIMIT:
        return duty_permille / 10 * 0.6
    if duty_permille <= HIGH_LIMIT:
        return (duty_permille / 10 - 64) * 2.5
    return MAX_CURRENT_A


def duty_for_current(current_a: float) -> int:
    """The duty [permille] that offers at most `current_a` (6..80 A), as close as possible."""
    if not MIN_CURRENT_A <= current_a <= MAX_CURRENT_A:
        raise ValueError(f"{current_a} A is outside the pilot's 6..80 A range")
    if current_a <= _LINEAR_TOP_A:
        duty = math.floor(round(current_a / 0.6 * 10, 9))
    else:  # between 51 and 52.75 A the best offer not above the request is 85 % (51 A)
        duty = max(LINEAR_LIMIT, math.floor(round((current_a / 2.5 + 64) * 10, 9)))
    return max(TEN_PERCENT, min(duty, HIGH_LIMIT))
