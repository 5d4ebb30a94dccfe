"""The edge between the state machine and the power board: pilot duty and contactor timing.

The machine says what a state wants; the governor applies IEC 61851-1's timing to it:
lower the offered current at once but raise it at most every 5 s, open the contactor within
one poll of the car leaving C, and at most 6 s after the pilot stopped offering current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime.evse.iec61851 import (
    FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S,
    MIN_PWM_RAISE_INTERVAL_S,
    PILOT_FAULT_PERMILLE,
    PWM_OFF_PERMILLE,
    current_for_duty_permille,
    duty_permille_for_current,
    requests_energy,
)
from runtime.evse.states import Pilot, StateLook
from runtime.hardware.types import CpState


@dataclass(frozen=True)
class Outputs:
    """What the power board is told this cycle."""

    duty_permille: int
    contactor_closed: bool

    @property
    def offered_current_a(self) -> float:
        """The current the pilot offers (0 without PWM)."""
        return current_for_duty_permille(self.duty_permille)


class OutputGovernor:
    """Turns a state's wishes into timed pilot and contactor commands."""

    def __init__(self, clock: Callable[[], float], *, ventilation_available: bool = False) -> None:
        self._clock = clock
        self._ventilation_available = ventilation_available
        self._outputs = Outputs(PWM_OFF_PERMILLE, contactor_closed=False)
        self._last_pwm_raise = float("-inf")
        self._pwm_stopped_at: float | None = None

    @property
    def outputs(self) -> Outputs:
        """The last commanded outputs."""
        return self._outputs

    def decide(self, look: StateLook, cp: CpState, limit_a: float, urgent: bool) -> Outputs:
        """This cycle's outputs; `urgent` opens the contactor without the 6 s grace."""
        now = self._clock()
        duty = self._pilot_duty(look.pilot, limit_a, now)
        contactor = self._contactor(look, cp, duty, urgent, now)
        self._outputs = Outputs(duty, contactor)
        return self._outputs

    def _pilot_duty(self, pilot: Pilot, limit_a: float, now: float) -> int:
        previous = self._outputs.duty_permille
        if pilot is Pilot.FAULT:
            target = PILOT_FAULT_PERMILLE
        elif pilot is Pilot.OFF:
            target = PWM_OFF_PERMILLE
        else:
            target = duty_permille_for_current(limit_a)
        offering_before = previous not in (PWM_OFF_PERMILLE, PILOT_FAULT_PERMILLE)
        offering_now = target not in (PWM_OFF_PERMILLE, PILOT_FAULT_PERMILLE)
        if offering_before and offering_now and target > previous:
            if now - self._last_pwm_raise < MIN_PWM_RAISE_INTERVAL_S:
                return previous
            self._last_pwm_raise = now
        elif offering_now and not offering_before:
            self._last_pwm_raise = now
        if offering_before and not offering_now:
            self._pwm_stopped_at = now
        elif offering_now:
            self._pwm_stopped_at = None
        return target

    def _contactor(self, look: StateLook, cp: CpState, duty: int, urgent: bool, now: float) -> bool:
        requesting = requests_energy(cp, ventilation_available=self._ventilation_available)
        if look.contactor and requesting and duty not in (PWM_OFF_PERMILLE, PILOT_FAULT_PERMILLE):
            return True
        if not self._outputs.contactor_closed:
            return False
        # Closed now but no longer wanted: open at once unless the car still asks (C, or D with
        # ventilation) and the pilot was just switched off (up to 6 s to stop, Table A.6 seq. 10.2).
        if urgent or not requesting or duty == PILOT_FAULT_PERMILLE:
            return False
        stopped_at = self._pwm_stopped_at if self._pwm_stopped_at is not None else now
        return now - stopped_at < FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S
