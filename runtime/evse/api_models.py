"""The evse local API's wire format: request bodies, query strings and answers, as pydantic models.

Shared by the server (runtime.evse.api) and its clients (runtime.evse.client), so both sides
validate the same shapes. Request bodies are strict (no "yes" for true); query strings are lax
(they are text by nature).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from runtime.persistence.auth_cache import AuthorizationStatus
from schemas.authorization import IdTag

# Commands' answers (runtime.evse.commands.Answer), kept here so clients need not import the
# controller; tests check that the two agree.
CommandStatus = Literal["Accepted", "Rejected", "Scheduled", "NotSupported"]
Role = Literal["ocpp", "webui", "monitor"]
ExportFormat = Literal["json", "csv"]
MAX_CURRENT_A = 80.0  # IEC 61851-1 Table A.8: the highest current a pilot can signal
MAX_LIMIT_DURATION_S = 7 * 24 * 3600
# An update's blue/green blinking ends by itself unless renewed: the updater renews it every
# 10 s, so a crashed updater never leaves the charger blinking for more than this.
UPDATING_LIFETIME_S = 30.0
MAX_UPDATING_LIFETIME_S = 300.0


class Body(BaseModel):
    """A JSON request body: unknown keys are errors, JSON types are taken as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Query(BaseModel):
    """Query-string parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Answer(BaseModel):
    """An answer body."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----- requests ------------------------------------------------------------------------------
class AuthorizeResult(Body):
    """The backoffice's IdTagInfo for an `authorize_request` event."""

    status: AuthorizationStatus
    expiry: AwareDatetime | None = None


class CsmsState(Body):
    """Whether the OCPP service's backoffice connection is up."""

    online: bool


class RemoteStart(Body):
    """OCPP RemoteStartTransaction."""

    id_tag: IdTag


class RemoteStop(Body):
    """OCPP RemoteStopTransaction (local TX ID or the backoffice's transaction id)."""

    transaction_id: int = Field(ge=1)


class Availability(Body):
    """OCPP ChangeAvailability."""

    operative: bool


class CurrentLimit(Body):
    """An external current limit (smart charging, load balancing); null removes it."""

    current_a: float | None = Field(ge=0, le=MAX_CURRENT_A, allow_inf_nan=False)
    expires_at: AwareDatetime | None = None
    duration_s: float | None = Field(None, gt=0, le=MAX_LIMIT_DURATION_S, allow_inf_nan=False)

    @field_validator("expires_at", "duration_s")
    @classmethod
    def expiry_only_with_a_limit(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("current_a", 0.0) is None:
            raise ValueError("a removed limit (current_a null) has no expiry")
        return value

    @field_validator("duration_s")
    @classmethod
    def one_way_to_give_the_expiry(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("expires_at") is not None:
            raise ValueError("give expires_at or duration_s, not both")
        return value


class Reset(Body):
    """OCPP Reset."""

    kind: Literal["soft", "hard"]


class Updating(Body):
    """A firmware update runs for `duration_s` more (renewed while it runs) or has ended; the LED
    blinks blue/green meanwhile."""

    updating: bool
    duration_s: float = Field(
        UPDATING_LIFETIME_S, gt=0, le=MAX_UPDATING_LIFETIME_S, allow_inf_nan=False
    )


class ClearFaults(Body):
    """Clear the latched faults an explicit clear may clear; `by` names who asked (event log)."""

    by: str = Field("local API", min_length=1, max_length=64, pattern=r"^[\w .()-]+$")


class NoBody(Body):
    """Commands without parameters accept an empty body or {}."""


class ClientHello(Body):
    """First message on the event stream: who listens (role "ocpp" makes the bridge usable)."""

    type: Literal["hello"]
    role: Role


class TransactionsQuery(Query):
    """GET /transactions."""

    limit: int = Field(50, ge=1, le=1000)


class EventLogQuery(Query):
    """GET /events/log."""

    limit: int = Field(100, ge=1, le=1000)
    source: str | None = Field(None, min_length=1, max_length=64)


# ----- answers ---------------------------------------------------------------------------------
class FieldError(Answer):
    """One invalid field of a request ("(body)" for the body as a whole)."""

    field: str
    message: str


class ErrorAnswer(Answer):
    """Every 4xx/5xx answer."""

    error: str
    fields: tuple[FieldError, ...] = ()


class CommandAnswer(Answer):
    """A command's answer, as OCPP reports it back."""

    status: CommandStatus


class CsmsStateAnswer(Answer):
    """POST /csms/state: whether the bridge now relays Authorize requests."""

    status: CommandStatus
    connected: bool


class TransactionRow(Answer):
    """One transaction with the Transactions page's columns."""

    number: int
    transaction_id: int
    csms_transaction_id: int | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    meter_start_kwh: float
    meter_stop_kwh: float | None
    energy_used_kwh: float | None
    average_power_kw: float | None
    id_tag: str
    evse_id: int
    status: Literal["active", "ended"]
    stop_reason: str | None


class TransactionList(Answer):
    """GET /transactions: newest first."""

    transactions: tuple[TransactionRow, ...]


class EventRecord(Answer):
    """One row of the persistent event log."""

    id: int
    at: datetime
    source: str
    level: str
    code: str
    message: str
    data: dict[str, Any]


class EventLogPage(Answer):
    """GET /events/log: newest first."""

    events: tuple[EventRecord, ...]


class EvseEvent(Answer):
    """One frame of the /events stream (seq 0: a reply meant for this connection only)."""

    seq: int
    type: str
    at: datetime
    data: dict[str, Any]
