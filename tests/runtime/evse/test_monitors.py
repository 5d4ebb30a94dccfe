"""Overcurrent, temperature derating and tilt/bump rules with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.evse.monitors import (
    OvercurrentMonitor,
    TiltBumpMonitor,
    angle_between_deg,
    thermal_verdict,
)
from runtime.hardware.types import Acceleration
from schemas.safety import Overcurrent, Temperature, TiltBump


@dataclass
class Clock:
    seconds: float = 0.0

    def __call__(self) -> float:
        return self.seconds


def test_car_gets_its_reaction_time_after_a_lower_limit() -> None:
    clock = Clock()
    monitor = OvercurrentMonitor(Overcurrent(tolerance_a=2, max_duration_s=5), clock)
    monitor.offered(32)
    clock.seconds = 1
    monitor.offered(10)  # lowered: the car may still draw 32 A for 5 s
    assert not monitor.exceeded((31, 31, 31))
    clock.seconds = 7
    monitor.offered(10)
    assert monitor.allowance_a() == 12
    assert not monitor.exceeded((20, 20, 20))  # too much, but not for long yet
    clock.seconds = 11.9
    assert not monitor.exceeded((20, 20, 20))
    clock.seconds = 12.0
    assert monitor.exceeded((20, 20, 20))


def test_drawing_within_the_tolerance_is_fine_forever() -> None:
    clock = Clock()
    monitor = OvercurrentMonitor(Overcurrent(tolerance_a=2, max_duration_s=5), clock)
    for second in range(100):
        clock.seconds = second
        monitor.offered(16)
        assert not monitor.exceeded((18, 17.9, 0))


@pytest.mark.parametrize(
    ("celsius", "throttle", "too_hot"),
    [
        (25, 1.0, False),
        (69.9, 1.0, False),
        (70, 0.75, False),
        (76, 0.5, False),
        (81, 0.25, False),
        (85, 0.0, True),
    ],
)
def test_derating_steps(celsius: float, throttle: float, too_hot: bool) -> None:
    verdict = thermal_verdict(celsius, Temperature(derate_from_c=70, stop_at_c=85), False)
    assert (verdict.throttle, verdict.too_hot) == (throttle, too_hot)


def test_too_hot_clears_only_five_degrees_below_the_stop() -> None:
    settings = Temperature(derate_from_c=70, stop_at_c=85)
    assert thermal_verdict(81, settings, was_too_hot=True).too_hot
    assert not thermal_verdict(80, settings, was_too_hot=True).too_hot


@given(st.floats(-40, 150, allow_nan=False))
def test_derating_never_grows_with_temperature(celsius: float) -> None:
    settings = Temperature(derate_from_c=70, stop_at_c=85)
    lower = thermal_verdict(celsius, settings, False).throttle
    assert thermal_verdict(celsius + 1, settings, False).throttle <= lower


REST = Acceleration(0.0, 0.0, 1.0)


def test_tilt_beyond_the_angle_is_reported() -> None:
    monitor = TiltBumpMonitor(TiltBump(enabled=True, tilt_angle_deg=20, bump_acceleration_g=7))
    monitor.calibrate(REST)
    assert monitor.check(Acceleration(0.30, 0.0, 0.95)) is None  # ~17.5°
    assert monitor.check(Acceleration(0.40, 0.0, 0.92)) == "tilt"  # ~23.5°


def test_bump_beyond_the_acceleration_is_reported() -> None:
    monitor = TiltBumpMonitor(TiltBump(enabled=True, tilt_angle_deg=80, bump_acceleration_g=5))
    monitor.calibrate(REST)
    assert monitor.check(Acceleration(3.0, 0.0, 1.0)) is None
    assert monitor.check(Acceleration(6.0, 0.0, 1.0)) == "bump"


def test_disabled_detection_reports_nothing() -> None:
    monitor = TiltBumpMonitor(TiltBump(enabled=False))
    monitor.calibrate(REST)
    assert monitor.check(Acceleration(1.0, 0.0, 0.0)) is None


@given(
    st.tuples(*[st.floats(-16, 16, allow_nan=False)] * 3),
    st.tuples(*[st.floats(-16, 16, allow_nan=False)] * 3),
)
def test_angle_is_symmetric_and_within_0_to_180(
    a: tuple[float, float, float], b: tuple[float, float, float]
) -> None:
    first, second = Acceleration(*a), Acceleration(*b)
    angle = angle_between_deg(first, second)
    assert 0.0 <= angle <= 180.0
    assert angle == pytest.approx(angle_between_deg(second, first), abs=1e-6)
