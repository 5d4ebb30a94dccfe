"""A simulated EV on the charging cable, following IEC 61851-1 (basic PWM signalling, no HLC).

Plugged in it presents B; while it wants energy and the pilot offers current it requests C
(D for a car that needs ventilation) and draws min(offered, onboard charger max) on 1 or 3
phases, following a new limit after its reaction time; full at its session capacity, back to B.
Time moves only through `tick()`; faults on command make it misbehave.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from runtime.hardware.types import CpState
from runtime.sim.pilot import offered_current_a

# IEC 61851-1 (Table A.6) gives the EV 5 s to follow a changed duty cycle; cars are quicker.
REACTION_TIME_S = 3.0
_JOULES_PER_KWH = 3.6e6
# Tick periods summed as floats land a hair off their exact total; not a physical time.
_TIME_EPSILON_S = 1e-9


class CarFault(StrEnum):
    """Misbehaviour on command."""

    NONE = "none"
    OVERCURRENT = "overcurrent"  # draws more than the pilot allows
    DIODE = "diode"  # CP diode missing: the board sees no clean negative half-wave
    CP_SHORT = "cp_short"  # pilot shorted to PE: state E


@dataclass(frozen=True)
class CarSpec:
    """The car model's fixed properties."""

    phases: Literal[1, 3] = 3
    max_current_a: float = 16.0  # onboard charger limit per phase
    capacity_kwh: float = 20.0  # energy it takes per session before it is full
    reaction_time_s: float = REACTION_TIME_S
    overcurrent_a: float = 6.0  # extra draw above the offered limit in CarFault.OVERCURRENT


@dataclass(frozen=True)
class CarStatus:
    """A snapshot of the car for the simulation CLI and tests."""

    plugged: bool
    cp_state: CpState
    fault: CarFault
    needs_ventilation: bool
    offered_current_a: float
    current_limit_a: float  # what the car currently obeys (after its reaction time)
    currents_a: tuple[float, float, float]
    energy_kwh: float
    full: bool


class SimCar:
    """The simulated EV."""

    def __init__(self, spec: CarSpec | None = None) -> None:
        self.spec = spec or CarSpec()
        self.fault = CarFault.NONE
        self._plugged = False
        self._needs_ventilation = False
        self._capacity_kwh = self.spec.capacity_kwh
        self._energy_kwh = 0.0
        self._full = False
        self._now_s = 0.0
        self._offered_a = 0.0
        self._limit_a = 0.0
        self._pending: deque[tuple[float, float]] = deque()
        self._currents: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def plug_in(self, *, capacity_kwh: float | None = None, ventilation: bool = False) -> None:
        """Connect the cable; a new session takes `capacity_kwh` (default from spec).

        With `ventilation` the car asks for energy in state D (ventilation required) instead
        of C, as a car with a battery that gasses while charging does (IEC 61851-1 Table A.3).
        """
        self._plugged = True
        self._needs_ventilation = ventilation
        self._capacity_kwh = self.spec.capacity_kwh if capacity_kwh is None else capacity_kwh
        self._energy_kwh = 0.0
        self._full = self._capacity_kwh <= 0
        self._stop_drawing()

    def unplug(self) -> None:
        """Pull the cable out."""
        self._plugged = False
        self._stop_drawing()

    def become_full(self) -> None:
        """The battery reaches the session's capacity now: the car stops drawing, back to B."""
        self._capacity_kwh = self._energy_kwh
        self._full = True
        self._stop_drawing()

    def misbehave(self, fault: CarFault) -> None:
        """Start misbehaving (`CarFault.NONE` behaves again)."""
        self.fault = fault

    @property
    def plugged(self) -> bool:
        """The cable is in the car."""
        return self._plugged

    @property
    def needs_ventilation(self) -> bool:
        """The car asks for energy in state D (ventilation required) instead of C."""
        return self._needs_ventilation

    @property
    def full(self) -> bool:
        """The car took its session capacity and wants no more energy."""
        return self._full

    @property
    def capacity_kwh(self) -> float:
        """Energy this session takes before the car is full."""
        return self._capacity_kwh

    @property
    def energy_kwh(self) -> float:
        """Energy taken this session."""
        return self._energy_kwh

    @property
    def diode_ok(self) -> bool:
        """The car's CP diode is in place."""
        return self.fault is not CarFault.DIODE

    @property
    def currents_a(self) -> tuple[float, float, float]:
        """Current drawn on L1..L3 now."""
        return self._currents

    @property
    def cp_state(self) -> CpState:
        """What the car presents on the pilot."""
        if not self._plugged:
            return CpState.A
        if self.fault is CarFault.CP_SHORT:
            return CpState.E
        requesting = not self._full and (self._offered_a > 0 or self._limit_a > 0)
        if not requesting:
            return CpState.B
        return CpState.D if self._needs_ventilation else CpState.C

    def tick(
        self,
        dt_s: float,
        *,
        duty_permille: int,
        energized: bool,
        voltages_v: tuple[float, float, float] = (230.0, 230.0, 230.0),
    ) -> None:
        """Advance by `dt_s` with the pilot at `duty_permille` and mains on the cable or not."""
        self._now_s += dt_s
        if not self._plugged:
            return
        self._offered_a = offered_current_a(duty_permille)
        self._follow(self._target_a())
        amps = self._limit_a if energized and self.cp_state in (CpState.C, CpState.D) else 0.0
        self._currents = (amps, amps, amps) if self.spec.phases == 3 else (amps, 0.0, 0.0)
        watts = sum(v * i for v, i in zip(voltages_v, self._currents, strict=True))
        self._energy_kwh += watts * dt_s / _JOULES_PER_KWH
        if self._energy_kwh >= self._capacity_kwh:
            self._full = True
            self._stop_drawing()

    def _target_a(self) -> float:
        if self._full or self._offered_a <= 0:
            return 0.0
        if self.fault is CarFault.OVERCURRENT:
            return self._offered_a + self.spec.overcurrent_a
        return min(self._offered_a, self.spec.max_current_a)

    def _follow(self, target_a: float) -> None:
        # A pure delay: the limit in force is the target of `reaction_time_s` ago.
        last = self._pending[-1][1] if self._pending else self._limit_a
        if target_a != last:
            self._pending.append((self._now_s, target_a))
        due = self._now_s - self.spec.reaction_time_s
        while self._pending and self._pending[0][0] <= due + _TIME_EPSILON_S:
            self._limit_a = self._pending.popleft()[1]

    def _stop_drawing(self) -> None:
        self._pending.clear()
        self._limit_a = 0.0
        self._offered_a = 0.0
        self._currents = (0.0, 0.0, 0.0)

    def status(self) -> CarStatus:
        """A snapshot of the car."""
        return CarStatus(
            plugged=self._plugged,
            cp_state=self.cp_state,
            fault=self.fault,
            needs_ventilation=self._needs_ventilation,
            offered_current_a=self._offered_a,
            current_limit_a=self._limit_a,
            currents_a=self._currents,
            energy_kwh=self._energy_kwh,
            full=self._full,
        )
