"""Safety monitors fed with measurements: overcurrent, temperature derating, tilt and bump.

Each is a small object with an injected clock that answers one question per sample, so its
timing rules are testable without waiting.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from runtime.evse.iec61851 import MIN_PWM_RAISE_INTERVAL_S
from runtime.hardware.types import Acceleration
from schemas.safety import Overcurrent, Temperature, TiltBump

DERATING_STEPS = (0.75, 0.5, 0.25)  # power throttling in steps between derate and stop
TEMPERATURE_HYSTERESIS_C = 5.0  # an over-temperature stop clears this far below the stop limit


class OvercurrentMonitor:
    """Car draws more than offered beyond a tolerance for too long (manual: one red blink).

    The car may lag a lowered limit by its reaction time (IEC 61851-1 Table A.6 seq. 9.2: 5 s),
    so the allowance is the highest current offered within that window.
    """

    def __init__(self, settings: Overcurrent, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._offers: deque[tuple[float, float]] = deque()
        self._over_since: float | None = None

    def offered(self, current_a: float) -> None:
        """Record the current the pilot offers now."""
        now = self._clock()
        self._offers.append((now, current_a))
        while len(self._offers) > 1 and now - self._offers[1][0] >= MIN_PWM_RAISE_INTERVAL_S:
            self._offers.popleft()

    def allowance_a(self) -> float:
        """The most the car may draw now."""
        offer = max((current for _, current in self._offers), default=0.0)
        return offer + self._settings.tolerance_a

    def exceeded(self, phase_currents_a: tuple[float, float, float]) -> bool:
        """True once the car has drawn too much for longer than allowed."""
        now = self._clock()
        if max(phase_currents_a) <= self.allowance_a():
            self._over_since = None
            return False
        if self._over_since is None:
            self._over_since = now
        return now - self._over_since >= self._settings.max_duration_s

    def reset(self) -> None:
        """Forget the history (a new session)."""
        self._over_since = None


@dataclass(frozen=True)
class ThermalVerdict:
    """What the EVSE temperature allows."""

    throttle: float  # 0..1 of the current limit
    too_hot: bool


def thermal_verdict(
    temperature_c: float, settings: Temperature, was_too_hot: bool
) -> ThermalVerdict:
    """Derate in steps from `derate_from_c`; stop at `stop_at_c` until cooled by the hysteresis."""
    if temperature_c >= settings.stop_at_c or (
        was_too_hot and temperature_c > settings.stop_at_c - TEMPERATURE_HYSTERESIS_C
    ):
        return ThermalVerdict(0.0, True)
    if temperature_c < settings.derate_from_c:
        return ThermalVerdict(1.0, False)
    span = settings.stop_at_c - settings.derate_from_c
    step = int((temperature_c - settings.derate_from_c) / span * len(DERATING_STEPS))
    return ThermalVerdict(DERATING_STEPS[min(step, len(DERATING_STEPS) - 1)], False)


def angle_between_deg(a: Acceleration, b: Acceleration) -> float:
    """Angle between two acceleration vectors (tilt from the calibrated rest position)."""
    dot = a.x_g * b.x_g + a.y_g * b.y_g + a.z_g * b.z_g
    norms = math.dist((0, 0, 0), (a.x_g, a.y_g, a.z_g)) * math.dist(
        (0, 0, 0), (b.x_g, b.y_g, b.z_g)
    )
    if norms == 0:
        return 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, dot / norms))))


class TiltBumpMonitor:
    """Tilt beyond the angle or a bump beyond the acceleration, against a calibrated rest."""

    def __init__(self, settings: TiltBump) -> None:
        self._settings = settings
        self._rest: Acceleration | None = None

    @property
    def calibrated(self) -> bool:
        """Whether a rest position is known."""
        return self._rest is not None

    def calibrate(self, rest: Acceleration) -> None:
        """Take `rest` as the mounted position ("save tilt + calibrate")."""
        self._rest = rest

    def forget_calibration(self) -> None:
        """Take the next sample as the new rest position."""
        self._rest = None

    def check(self, sample: Acceleration) -> str | None:
        """'tilt' or 'bump' when the sample breaks a limit, else None."""
        if not self._settings.enabled or self._rest is None:
            return None
        jolt = math.dist(
            (sample.x_g, sample.y_g, sample.z_g), (self._rest.x_g, self._rest.y_g, self._rest.z_g)
        )
        if jolt >= self._settings.bump_acceleration_g:
            return "bump"
        if angle_between_deg(sample, self._rest) >= self._settings.tilt_angle_deg:
            return "tilt"
        return None
