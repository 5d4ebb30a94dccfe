"""The `evse` service's one status snapshot, read by the web UI, OCPP and diagnostics alike."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Snapshot(BaseModel):
    """Base of the API models: immutable, strict keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultStatus(Snapshot):
    """One active fault."""

    kind: str
    ocpp_error_code: str
    vendor_error_code: str
    description: str
    latch: str
    since: datetime
    detail: str


class WarningStatus(Snapshot):
    """One active warning: the charger works, but something is missing (e.g. the LED)."""

    kind: str
    vendor_error_code: str
    description: str
    since: datetime
    detail: str


class MeterStatus(Snapshot):
    """The last good reading of the MID meter."""

    energy_kwh: float
    power_w: float
    voltages_v: tuple[float, float, float]
    currents_a: tuple[float, float, float]
    at: datetime


class TransactionStatus(Snapshot):
    """The open (or finishing) transaction."""

    number: int
    transaction_id: int
    id_tag: str
    started_at: datetime
    meter_start_kwh: float
    energy_used_kwh: float
    duration_s: float


class LimitStatus(Snapshot):
    """Every limit on the charging current and the one in force."""

    charger_a: float
    cable_a: float
    external_a: float | None
    external_expires_at: datetime | None
    thermal_throttle_pct: float
    effective_a: float


class EvseStatus(Snapshot):
    """Everything the charger's owner, installer and backoffice may want to know now."""

    evse_id: int
    state: str
    ocpp_status: str
    led: str
    cp_state: str
    pwm_duty_permille: int
    offered_current_a: float
    contactor_closed: bool
    operative: bool
    updating: bool
    limits: LimitStatus
    temperature_c: float | None
    site_currents_a: tuple[float, float, float] | None  # analog CT1..CT3 on the power board
    power_throttling_pct: float
    meter: MeterStatus | None
    faults: tuple[FaultStatus, ...]
    warnings: tuple[WarningStatus, ...] = ()
    last_error_code: str
    transaction: TransactionStatus | None
    power_board: str | None
    uptime_s: float
