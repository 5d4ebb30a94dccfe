"""The simulated EV: IEC 61851-1 states, current following the pilot, full, misbehaviour."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.hardware.types import CpState
from runtime.sim.car import CarFault, CarSpec, SimCar

TICK_S = 0.02
DUTY_16_A = 267  # 16.02 A offered
DUTY_10_A = 167  # 10.02 A offered


def run(car: SimCar, seconds: float, *, duty: int, energized: bool = True) -> None:
    for _ in range(round(seconds / TICK_S)):
        car.tick(TICK_S, duty_permille=duty, energized=energized)


def test_unplugged_car_presents_a_and_draws_nothing() -> None:
    car = SimCar()
    run(car, 5, duty=DUTY_16_A)
    assert car.cp_state is CpState.A
    assert car.currents_a == (0.0, 0.0, 0.0)


def test_plugged_car_waits_in_b_while_the_pilot_is_steady() -> None:
    car = SimCar()
    car.plug_in()
    run(car, 5, duty=1000)
    assert car.cp_state is CpState.B


def test_car_requests_c_as_soon_as_the_pilot_offers_current() -> None:
    car = SimCar()
    car.plug_in()
    run(car, TICK_S, duty=DUTY_16_A, energized=False)
    assert car.cp_state is CpState.C


def test_car_draws_the_offered_current_within_its_reaction_time() -> None:
    car = SimCar(CarSpec(reaction_time_s=3.0, max_current_a=32.0))
    car.plug_in()
    run(car, 2.9, duty=DUTY_16_A)
    assert car.currents_a == (0.0, 0.0, 0.0)
    run(car, 0.2, duty=DUTY_16_A)
    assert car.currents_a == pytest.approx((16.02,) * 3)


def test_car_follows_a_lower_limit_only_after_its_reaction_time() -> None:
    car = SimCar(CarSpec(reaction_time_s=2.0, max_current_a=32.0))
    car.plug_in()
    run(car, 3, duty=DUTY_16_A)
    run(car, 1.9, duty=DUTY_10_A)
    assert car.currents_a[0] == pytest.approx(16.02)
    run(car, 0.2, duty=DUTY_10_A)
    assert car.currents_a[0] == pytest.approx(10.02)


def test_car_never_draws_more_than_its_onboard_charger() -> None:
    car = SimCar(CarSpec(max_current_a=11.0))
    car.plug_in()
    run(car, 4, duty=DUTY_16_A)
    assert car.currents_a == (11.0, 11.0, 11.0)


def test_one_phase_car_draws_on_l1_only() -> None:
    car = SimCar(CarSpec(phases=1, max_current_a=32.0))
    car.plug_in()
    run(car, 4, duty=DUTY_16_A)
    assert car.currents_a == pytest.approx((16.02, 0.0, 0.0))


def test_no_current_flows_while_the_contactor_is_open() -> None:
    car = SimCar()
    car.plug_in()
    run(car, 4, duty=DUTY_16_A, energized=False)
    assert car.cp_state is CpState.C
    assert car.currents_a == (0.0, 0.0, 0.0)


def test_car_goes_back_to_b_when_full() -> None:
    car = SimCar(CarSpec(capacity_kwh=1.0, reaction_time_s=0.0))
    car.plug_in()
    watts = 3 * 230 * 16.0  # the onboard charger takes 16 A of the 16.02 A offered
    seconds_to_full = 1.0 * 3.6e6 / watts
    run(car, seconds_to_full - 1, duty=DUTY_16_A)
    assert (car.cp_state, car.full) == (CpState.C, False)
    run(car, 2, duty=DUTY_16_A)
    assert car.full
    assert car.cp_state is CpState.B
    assert car.currents_a == (0.0, 0.0, 0.0)
    assert car.energy_kwh == pytest.approx(1.0, abs=0.01)


def test_stopping_the_pwm_brings_the_car_back_to_b_after_it_stops_drawing() -> None:
    car = SimCar(CarSpec(reaction_time_s=1.0))
    car.plug_in()
    run(car, 2, duty=DUTY_16_A)
    run(car, 0.9, duty=1000)
    winding_down = car.status()
    run(car, 0.2, duty=1000)
    stopped = car.status()
    assert winding_down.cp_state is CpState.C and winding_down.currents_a[0] > 0
    assert stopped.cp_state is CpState.B and stopped.currents_a[0] == 0


def test_overcurrent_mode_draws_more_than_offered() -> None:
    car = SimCar(CarSpec(overcurrent_a=6.0, max_current_a=16.0))
    car.plug_in()
    car.misbehave(CarFault.OVERCURRENT)
    run(car, 4, duty=DUTY_16_A)
    assert car.currents_a[0] == pytest.approx(22.02)


def test_shorted_pilot_presents_state_e() -> None:
    car = SimCar()
    car.plug_in()
    car.misbehave(CarFault.CP_SHORT)
    run(car, 1, duty=DUTY_16_A)
    assert car.cp_state is CpState.E


def test_car_that_needs_ventilation_asks_in_state_d_and_draws_when_energized() -> None:
    car = SimCar(CarSpec(reaction_time_s=0.0))
    car.plug_in(ventilation=True)
    assert car.cp_state is CpState.B
    run(car, 1, duty=DUTY_16_A)
    assert car.cp_state is CpState.D
    assert car.currents_a[0] > 0
    assert car.status().needs_ventilation
    car.unplug()
    car.plug_in()
    run(car, 1, duty=DUTY_16_A)
    assert car.cp_state is CpState.C


def test_diode_fault_is_visible_to_the_board() -> None:
    car = SimCar()
    car.misbehave(CarFault.DIODE)
    assert not car.diode_ok
    car.misbehave(CarFault.NONE)
    assert car.diode_ok


def test_a_new_session_starts_empty() -> None:
    car = SimCar(CarSpec(capacity_kwh=0.01, reaction_time_s=0.0))
    car.plug_in()
    run(car, 20, duty=DUTY_16_A)
    assert car.full
    car.unplug()
    car.plug_in(capacity_kwh=5.0)
    assert not car.full and car.energy_kwh == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1000, 80, 167, 267, 500, 0]), st.integers(1, 150))))
def test_a_well_behaved_car_never_draws_more_than_was_offered_a_reaction_time_ago(
    program: list[tuple[int, int]],
) -> None:
    spec = CarSpec(reaction_time_s=1.0, max_current_a=32.0)
    car = SimCar(spec)
    car.plug_in()
    history: list[float] = []
    window = round(spec.reaction_time_s / TICK_S) + 1
    for duty, ticks in program:
        for _ in range(ticks):
            car.tick(TICK_S, duty_permille=duty, energized=True)
            history.append(min(car.status().offered_current_a, spec.max_current_a))
            allowed = max(history[-window:]) if len(history) >= window else max(history)
            assert car.currents_a[0] <= allowed + 1e-9
