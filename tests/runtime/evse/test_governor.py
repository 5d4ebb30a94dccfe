"""IEC 61851-1 timing at the power board's edge: PWM raise rate, contactor open times."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.evse.governor import OutputGovernor
from runtime.evse.iec61851 import current_for_duty_permille, duty_permille_for_current
from runtime.evse.states import STATE_LOOKS, EvseState
from runtime.hardware.types import CpState

CHARGING = STATE_LOOKS[EvseState.CHARGING]
FINISHING = STATE_LOOKS[EvseState.FINISHING]
SUSPENDED_EV = STATE_LOOKS[EvseState.SUSPENDED_EV]


@dataclass
class Clock:
    seconds: float = 100.0

    def __call__(self) -> float:
        return self.seconds


def charging_at(limit_a: float) -> tuple[OutputGovernor, Clock]:
    clock = Clock()
    governor = OutputGovernor(clock)
    governor.decide(SUSPENDED_EV, CpState.B, limit_a, urgent=False)
    governor.decide(CHARGING, CpState.C, limit_a, urgent=False)
    return governor, clock


def test_duty_cycle_follows_table_a8() -> None:
    assert duty_permille_for_current(6) == 100
    assert duty_permille_for_current(16) == 266
    assert duty_permille_for_current(32) == 533
    assert duty_permille_for_current(51) == 850
    assert duty_permille_for_current(63) == 892  # 63 / 2.5 + 64 = 89.2 %
    assert duty_permille_for_current(5.9) == 1000  # below 6 A: no PWM at all
    for amps in (6, 10, 16, 20, 32, 40, 51, 63, 80):
        assert abs(current_for_duty_permille(duty_permille_for_current(amps)) - amps) < 0.1


def test_lower_limit_reaches_the_pilot_in_the_same_cycle() -> None:
    governor, clock = charging_at(32)
    clock.seconds += 0.05
    assert governor.decide(CHARGING, CpState.C, 10, urgent=False).offered_current_a < 10.1


def test_higher_limit_waits_five_seconds_after_the_last_raise() -> None:
    governor, clock = charging_at(10)
    clock.seconds += 1.0
    assert governor.decide(CHARGING, CpState.C, 32, urgent=False).duty_permille == 166
    clock.seconds += 3.0
    assert governor.decide(CHARGING, CpState.C, 32, urgent=False).duty_permille == 166
    clock.seconds += 1.01
    assert governor.decide(CHARGING, CpState.C, 32, urgent=False).duty_permille == 533


def test_contactor_closes_only_with_pwm_on_and_the_car_asking() -> None:
    clock = Clock()
    governor = OutputGovernor(clock)
    assert not governor.decide(CHARGING, CpState.B, 16, urgent=False).contactor_closed
    assert governor.decide(CHARGING, CpState.C, 16, urgent=False).contactor_closed


def test_contactor_closes_in_state_d_only_where_ventilation_is_provided() -> None:
    clock = Clock()
    assert not OutputGovernor(clock).decide(CHARGING, CpState.D, 16, urgent=False).contactor_closed
    ventilated = OutputGovernor(clock, ventilation_available=True)
    assert ventilated.decide(CHARGING, CpState.D, 16, urgent=False).contactor_closed


def test_car_leaving_c_opens_the_contactor_in_the_same_cycle() -> None:
    governor, _ = charging_at(16)
    assert not governor.decide(SUSPENDED_EV, CpState.B, 16, urgent=False).contactor_closed


def test_stop_with_the_car_still_in_c_opens_after_six_seconds_at_most() -> None:
    governor, clock = charging_at(16)
    outputs = governor.decide(FINISHING, CpState.C, 16, urgent=False)
    assert outputs.duty_permille == 1000 and outputs.contactor_closed
    clock.seconds += 5.9
    assert governor.decide(FINISHING, CpState.C, 16, urgent=False).contactor_closed
    clock.seconds += 0.1
    assert not governor.decide(FINISHING, CpState.C, 16, urgent=False).contactor_closed


def test_urgent_stop_opens_at_once_even_with_the_car_in_c() -> None:
    governor, _ = charging_at(16)
    assert not governor.decide(FINISHING, CpState.C, 16, urgent=True).contactor_closed


def test_fault_sets_the_pilot_to_minus_12_volt_and_opens() -> None:
    governor, _ = charging_at(16)
    outputs = governor.decide(STATE_LOOKS[EvseState.FAULTED], CpState.C, 16, urgent=False)
    assert outputs.duty_permille == 0 and not outputs.contactor_closed
