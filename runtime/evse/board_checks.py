"""What one power board poll says about safety: RCM, pilot, ventilation, weld, heat, contactor.

Turns a PowerBoardStatus into fault reports and the thermal throttle; the controller decides
what the faults mean for the session.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.evse.faults import FaultKind, FaultTracker
from runtime.evse.iec61851 import CONNECTED_STATES, ventilation_missing
from runtime.evse.monitors import thermal_verdict
from runtime.hardware.types import CpState, PowerBoardStatus
from schemas.safety import Temperature

CONTACTOR_FEEDBACK_S = 0.5  # feedback must follow the command within this (relay datasheet)


class BoardChecks:
    """Judges each board poll; remembers how long the contactor feedback has disagreed."""

    def __init__(
        self,
        faults: FaultTracker,
        temperature: Temperature,
        clock: Callable[[], float],
        *,
        ventilation_available: bool = False,
    ) -> None:
        self._faults = faults
        self._temperature = temperature
        self._ventilation_available = ventilation_available
        self._clock = clock
        self._mismatch_since: float | None = None

    def judge(self, status: PowerBoardStatus, pilot_forced_low: bool, commanded: bool) -> float:
        """Report the poll's faults; return the thermal throttle (0..1)."""
        faults = self._faults
        faults.report(FaultKind.RCM, status.rcm_dc_fault, "RCM tripped (6 mA DC)")
        if not pilot_forced_low:  # our own -12 V reads as state F: not the car's fault
            pilot_error = status.cp_state in (CpState.E, CpState.F) or status.diode_fault
            faults.report(FaultKind.PILOT, pilot_error, f"CP {status.cp_state}")
            self._ventilation(status.cp_state)
        faults.report(FaultKind.CONTACTOR_WELDED, status.relay_welded, "board reports weld")
        verdict = thermal_verdict(
            status.temperature_c, self._temperature, FaultKind.OVER_TEMPERATURE in faults.kinds
        )
        faults.report(FaultKind.OVER_TEMPERATURE, verdict.too_hot, f"{status.temperature_c:.1f} °C")
        self._contactor_feedback(status, commanded)
        return verdict.throttle

    def _ventilation(self, cp: CpState) -> None:
        # A car that asks in D goes back to B as soon as the pilot stops offering and would ask
        # in D again at the next offer: the fault ends when the car leaves D for good (unplugged).
        asks = ventilation_missing(cp, ventilation_available=self._ventilation_available)
        same_car = FaultKind.VENTILATION in self._faults.kinds and cp in CONNECTED_STATES
        self._faults.report(FaultKind.VENTILATION, asks or same_car, "CP D: ventilation required")

    def _contactor_feedback(self, status: PowerBoardStatus, commanded: bool) -> None:
        if status.contactor_closed == commanded:
            self._mismatch_since = None
            return
        now = self._clock()
        if self._mismatch_since is None:
            self._mismatch_since = now
        if now - self._mismatch_since >= CONTACTOR_FEEDBACK_S:
            kind = (
                FaultKind.CONTACTOR_WELDED
                if status.contactor_closed
                else (FaultKind.CONTACTOR_STUCK_OPEN)
            )
            self._faults.report(kind, True, "contactor feedback does not follow the command")
