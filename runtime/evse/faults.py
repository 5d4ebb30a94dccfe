"""Faults of the charger: what each means, how it shows, and how it is cleared.

One description table (the manual's troubleshooting table 5.4 joined with OCPP error codes)
and a small tracker of the active ones. Latching follows what the hazard deserves: DC leakage
and a welded contactor stay until the power board is power-cycled; a tilt stays until an
installer clears it; communication faults clear themselves once the device answers again.
Latched faults outlive a restart of evse (runtime.evse.latches keeps them on the data partition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """Every fault the controller can raise."""

    RCM = "rcm"
    PILOT = "pilot"
    POWER_BOARD = "power_board"
    RFID_READER = "rfid_reader"
    METER = "meter"
    TILT = "tilt"
    ACCELEROMETER = "accelerometer"
    OVER_TEMPERATURE = "over_temperature"
    CONTACTOR_WELDED = "contactor_welded"
    CONTACTOR_STUCK_OPEN = "contactor_stuck_open"
    VENTILATION = "ventilation"
    STORAGE = "storage"
    BOARD_HUNG = "board_hung"
    INTERNAL = "internal"


class Latch(StrEnum):
    """How a fault clears."""

    SELF = "self"  # when its condition is gone
    CLEARED = "cleared"  # by an explicit clear (installer, CSMS reset, `sim clear`)
    POWER_CYCLE = "power_cycle"  # only by a power cycle of the power board (not an evse restart)


@dataclass(frozen=True)
class FaultSpec:
    """How one fault kind shows and clears."""

    ocpp_error_code: str  # OCPP 1.6 ChargePointErrorCode
    vendor_error_code: str
    latch: Latch
    description: str  # what the owner reads (manual 5.4)


FAULTS: dict[FaultKind, FaultSpec] = {
    FaultKind.RCM: FaultSpec(
        "GroundFailure",
        "RCM_DC_6MA",
        Latch.POWER_CYCLE,
        "DC leakage current above 6 mA: do not charge; power-cycle, call your installer",
    ),
    FaultKind.PILOT: FaultSpec(
        "EVCommunicationError",
        "CP_ERROR",
        Latch.SELF,
        "control pilot error (short, diode missing or -12 V): check the cable and the car",
    ),
    FaultKind.POWER_BOARD: FaultSpec(
        "InternalError",
        "POWER_BOARD_SILENT",
        Latch.SELF,
        "the EVSE power board does not answer: charger fault",
    ),
    FaultKind.RFID_READER: FaultSpec(
        "ReaderFailure", "RFID_MISSING", Latch.SELF, "RFID reader not connected"
    ),
    FaultKind.METER: FaultSpec(
        "PowerMeterFailure",
        "METER_SILENT",
        Latch.SELF,
        "the kWh meter does not answer: charging stopped (billing data)",
    ),
    FaultKind.TILT: FaultSpec(
        "OtherError",
        "TILT_BUMP",
        Latch.CLEARED,
        "the charger was tilted or hit: have it inspected, then clear and recalibrate",
    ),
    # With tilt/bump detection enabled the installer wants no energy without that protection.
    FaultKind.ACCELEROMETER: FaultSpec(
        "OtherError",
        "ACCELEROMETER_MISSING",
        Latch.SELF,
        "the tilt/bump sensor does not answer: charging stopped until it is back; call your"
        " installer",
    ),
    FaultKind.OVER_TEMPERATURE: FaultSpec(
        "HighTemperature",
        "OVER_TEMPERATURE",
        Latch.SELF,
        "too hot: charging stopped until the charger has cooled down",
    ),
    FaultKind.CONTACTOR_WELDED: FaultSpec(
        "PowerSwitchFailure",
        "CONTACTOR_WELDED",
        Latch.POWER_CYCLE,
        "contactor welded: do not charge; call your installer",
    ),
    FaultKind.CONTACTOR_STUCK_OPEN: FaultSpec(
        "PowerSwitchFailure",
        "CONTACTOR_OPEN",
        Latch.CLEARED,
        "contactor does not close: contactor defect",
    ),
    # IEC 61851-1:2017 6.3.2 / Table A.3: a car in state D may be charged only where the
    # charging area is ventilated. OCPP 1.6 has no code for it, and EVCommunicationError would
    # be wrong (the pilot works: the car said exactly what it needs), so OtherError carries
    # the reason in the vendor code. It clears when the car leaves D by being unplugged.
    FaultKind.VENTILATION: FaultSpec(
        "OtherError",
        "VENTILATION_UNAVAILABLE",
        Latch.SELF,
        "the car asks for a ventilated charging area (state D) and this charger has none:"
        " no charging; unplug the car",
    ),
    # OCPP 1.6 has no storage code; its InternalError is "error in internal hard- or
    # software component", which the data partition is. The vendor code tells it apart from
    # the power board's InternalError. Clears once a retried write succeeds.
    FaultKind.STORAGE: FaultSpec(
        "InternalError",
        "STORAGE_FAILED",
        Latch.SELF,
        "the charger cannot record transactions (data partition full or failing): no charging"
        " until it can; free space or call your installer",
    ),
    # Clears when the heartbeat moves again: the board's firmware runs (its own reset brings
    # it back with safe outputs); the session does not resume, as after a silent board.
    FaultKind.BOARD_HUNG: FaultSpec(
        "InternalError",
        "POWER_BOARD_HUNG",
        Latch.SELF,
        "the EVSE power board's firmware is stuck (heartbeat frozen): charger fault",
    ),
    # Clears once the controller has run clean for INTERNAL_ERROR_CLEAN_S (runtime.evse.liveness).
    FaultKind.INTERNAL: FaultSpec(
        "InternalError",
        "CONTROLLER_ERROR",
        Latch.SELF,
        "internal error of the charging controller: charging stopped; report it if it repeats",
    ),
}

# Faults the car shows on the pilot: the EVSE holds it at +12 V (not -12 V) while only these
# are active, so that it sees the car end them (a CP reading is frozen at -12 V). A storage
# fault is not the car's either: at +12 V an unplug during it is seen (the start it refused
# is then dropped, not given to the next car).
PILOT_WATCHED: frozenset[str] = frozenset(
    {FaultKind.PILOT, FaultKind.VENTILATION, FaultKind.STORAGE}
)


@dataclass(frozen=True)
class ActiveFault:
    """A fault that is raised now."""

    kind: FaultKind
    since: float
    detail: str

    @property
    def spec(self) -> FaultSpec:
        """The fault's description row."""
        return FAULTS[self.kind]


class FaultTracker:
    """The set of active faults; reports changes to a listener (event log, OCPP, LED)."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_change: Callable[[ActiveFault, bool], None] = lambda fault, raised: None,
    ) -> None:
        self._clock = clock
        self._active: dict[FaultKind, ActiveFault] = {}
        self._on_change = on_change

    @property
    def active(self) -> tuple[ActiveFault, ...]:
        """The active faults, oldest first."""
        return tuple(self._active.values())

    @property
    def kinds(self) -> frozenset[str]:
        """The active fault kinds."""
        return frozenset(self._active)

    def report(self, kind: FaultKind, present: bool, detail: str = "") -> None:
        """The condition behind `kind` is (or is no longer) present this cycle."""
        if present:
            if kind not in self._active:
                fault = ActiveFault(kind, self._clock(), detail)
                self._active[kind] = fault
                self._on_change(fault, True)
        elif kind in self._active and FAULTS[kind].latch is Latch.SELF:
            self._on_change(self._active.pop(kind), False)

    def restore(self, kind: FaultKind, detail: str, age_s: float = 0.0) -> None:
        """A fault latched `age_s` before now, by an earlier evse, is active again (unreported)."""
        if FAULTS[kind].latch is Latch.SELF:
            raise ValueError(f"fault {kind} clears itself; only latched faults are restored")
        self._active.setdefault(kind, ActiveFault(kind, self._clock() - max(0.0, age_s), detail))

    def clear(self) -> tuple[FaultKind, ...]:
        """Clear what an explicit clear may clear (not the power-cycle faults)."""
        return self._clear(Latch.CLEARED)

    def clear_power_cycled(self) -> tuple[FaultKind, ...]:
        """The power board was power-cycled: clear the faults that wait for that."""
        return self._clear(Latch.POWER_CYCLE)

    def _clear(self, latch: Latch) -> tuple[FaultKind, ...]:
        cleared = tuple(k for k, f in self._active.items() if f.spec.latch is latch)
        for kind in cleared:
            self._on_change(self._active.pop(kind), False)
        return cleared
