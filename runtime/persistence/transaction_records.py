"""What the transaction store returns: frozen snapshots of a charging transaction and its samples.

Energy is integer Wh as the meter counts it (billing: no floats); derived values (energy used,
duration, average power) are computed from those integers and the injected `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

SECONDS_PER_HOUR = 3600


class StopReason(StrEnum):
    """Why a transaction ended (OCPP 1.6 StopTransaction.req `reason`)."""

    LOCAL = "Local"
    REMOTE = "Remote"
    EV_DISCONNECTED = "EVDisconnected"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    EMERGENCY_STOP = "EmergencyStop"
    HARD_RESET = "HardReset"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DE_AUTHORIZED = "DeAuthorized"
    OTHER = "Other"


class TransactionStatus(StrEnum):
    """The Transactions page's "TX Status"."""

    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Transaction:
    """One charging transaction as stored (a row of the Transactions page)."""

    number: int
    transaction_id: int
    csms_transaction_id: int | None
    evse_id: int
    id_tag: str
    started_at: datetime
    ended_at: datetime | None
    meter_start_wh: int
    meter_stop_wh: int | None
    stop_reason: StopReason | None
    status: TransactionStatus

    @property
    def is_active(self) -> bool:
        """True until the transaction is stopped."""
        return self.status is TransactionStatus.ACTIVE

    @property
    def energy_used_wh(self) -> int | None:
        """Meter stop minus meter start; None while the transaction is active."""
        if self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh

    def duration(self, now: datetime) -> timedelta:
        """Start to end (or to `now` while active); never negative, even if the clock stepped."""
        end = self.ended_at if self.ended_at is not None else now
        return max(end - self.started_at, timedelta(0))

    def duration_s(self, now: datetime) -> float:
        """duration() in seconds."""
        return self.duration(now).total_seconds()

    def average_power_w(self, now: datetime) -> float | None:
        """Energy used over duration; None while active or when the duration is zero."""
        used = self.energy_used_wh
        seconds = self.duration_s(now)
        if used is None or seconds <= 0:
            return None
        return used * SECONDS_PER_HOUR / seconds


@dataclass(frozen=True)
class MeterSample:
    """One periodic meter reading during a transaction."""

    transaction_id: int
    at: datetime
    energy_wh: int
    power_w: float
    currents_a: tuple[float, float, float]
