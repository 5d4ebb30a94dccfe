"""Keep what matters of the live event stream: faults, security events and sessions.

The Monitor page's error log and the service-ticket logs read this persistent event log; the
live stream itself is lost on a restart, the log is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from runtime.evse.events import Event, EventHub
from runtime.persistence.errors import PersistenceError
from runtime.persistence.event_log import EventLevel, EventLog

log = logging.getLogger(__name__)

KEPT = frozenset({"fault", "warning", "security", "transaction", "overcurrent"})


def describe(event: Event) -> tuple[EventLevel, str, str]:
    """Level, code and message of a live event as the log keeps it."""
    kind, data = event["type"], event["data"]
    if kind == "fault":
        raised = bool(data.get("raised"))
        state = "FAULTED" if raised else "NOT FAULTED"
        message = (
            f"EVSE 1: {state}. OCPP error code: {data.get('ocpp_error_code')}."
            f" Vendor error code: {data.get('vendor_error_code')}. {data.get('detail', '')}"
        ).strip()
        return (EventLevel.ERROR if raised else EventLevel.INFO), str(data.get("kind")), message
    if kind == "warning":
        raised = bool(data.get("raised"))
        message = (
            f"EVSE 1: {'WARNING' if raised else 'NO WARNING'}."
            f" Vendor error code: {data.get('vendor_error_code')}. {data.get('detail', '')}"
        ).strip()
        return (EventLevel.WARNING if raised else EventLevel.INFO), str(data.get("kind")), message
    if kind == "security":
        message = data.get("message") or f"EVSE 1: {data.get('event')} detected"
        return EventLevel.CRITICAL, str(data.get("event")), str(message)
    if kind == "overcurrent":
        return EventLevel.WARNING, "overcurrent", "EVSE 1: the car drew more than offered"
    what = data.get("what", "")
    message = f"transaction {data.get('transaction_id')} {what}"
    if what == "ended":
        message += f" ({data.get('reason')})"
    return EventLevel.INFO, f"transaction_{what}", message


async def record_events(hub: EventHub, event_log: EventLog, now: Callable[[], datetime]) -> None:
    """Append every kept event to the persistent log until cancelled."""
    async with hub.subscribe() as queue:
        while True:
            event = await queue.get()
            if event["type"] not in KEPT:
                continue
            level, code, message = describe(event)
            try:
                await asyncio.to_thread(
                    event_log.append, "evse", level, code, message, now=now(), data=event["data"]
                )
            except (PersistenceError, ValueError) as error:
                log.warning("event not kept in the log: %s", error)
