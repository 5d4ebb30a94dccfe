"""IEC 61851-1 Table A.8: pilot duty cycle ↔ current, both directions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.sim.pilot import duty_for_current, offered_current_a


@pytest.mark.parametrize(
    ("duty_permille", "amps"),
    [
        (0, 0.0),  # steady -12 V (state F)
        (50, 0.0),  # 5 %: digital communication, no basic charging
        (79, 0.0),
        (80, 6.0),  # 8 %: 6 A
        (100, 6.0),  # 10 %
        (267, 16.02),
        (500, 30.0),
        (533, 31.98),
        (850, 51.0),  # 85 %: still duty * 0.6
        (851, 52.75),  # just above 85 %: (duty - 64) * 2.5, the table jumps
        (900, 65.0),  # (90 - 64) * 2.5
        (960, 80.0),
        (970, 80.0),  # 97 %
        (971, 0.0),  # above 97 %: no charging
        (1000, 0.0),  # steady +12 V
    ],
)
def test_table_a8_points(duty_permille: int, amps: float) -> None:
    assert offered_current_a(duty_permille) == pytest.approx(amps)


@given(st.integers(-100, 1100))
def test_offered_current_is_zero_or_between_6_and_80_a(duty_permille: int) -> None:
    amps = offered_current_a(duty_permille)
    assert amps == 0.0 or 6.0 <= amps <= 80.0


@given(st.integers(80, 969))
def test_more_duty_never_offers_less_current_while_charging_is_allowed(duty: int) -> None:
    assert offered_current_a(duty + 1) >= offered_current_a(duty)


@given(st.floats(6.0, 80.0))
def test_duty_for_a_current_never_offers_more_and_is_the_closest_step(amps: float) -> None:
    duty = duty_for_current(amps)
    offered = offered_current_a(duty)
    assert 100 <= duty <= 960
    assert offered <= amps + 1e-9
    if amps < 52.75:
        closest_below = offered_current_a(duty + 1) > amps + 1e-9 or duty == 850
        assert closest_below
    else:
        assert amps - offered < 0.25 + 1e-9  # one permille step above 85 %


@pytest.mark.parametrize("amps", [5.99, 80.01, -1.0, float("nan")])
def test_currents_the_pilot_cannot_signal_are_refused(amps: float) -> None:
    with pytest.raises(ValueError, match=r"6\.\.80 A"):
        duty_for_current(amps)
