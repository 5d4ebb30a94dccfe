"""Faults, security events and sessions of the live stream land in the persistent event log."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from runtime.evse.events import EventHub
from runtime.evse.recorder import describe, record_events
from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLevel, EventLog

NOW = dt.datetime(2026, 3, 10, 18, 1, tzinfo=dt.UTC)


def test_fault_is_logged_like_the_manuals_monitor_line(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[EventLevel, str]]:
        with Database.open(tmp_path / "db.sqlite") as database:
            event_log = EventLog(database)
            hub = EventHub(lambda: NOW)
            task = asyncio.create_task(record_events(hub, event_log, lambda: NOW))
            for _ in range(50):  # bounded: wait until the recorder subscribed
                if hub.subscriber_count:
                    break
                await asyncio.sleep(0.01)
            hub.publish("state", {"from": "available", "to": "connected"})
            hub.publish(
                "fault",
                {
                    "kind": "rcm",
                    "raised": True,
                    "ocpp_error_code": "GroundFailure",
                    "vendor_error_code": "RCM_DC_6MA",
                    "detail": "",
                },
            )
            hub.publish("security", {"event": "tilt"})
            for _ in range(100):
                if len(event_log) == 2:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            return [(event.level, event.message) for event in event_log.recent(10)]

    logged = asyncio.run(scenario())
    assert (
        EventLevel.ERROR,
        "EVSE 1: FAULTED. OCPP error code: GroundFailure. Vendor error code: RCM_DC_6MA.",
    ) in logged
    assert (EventLevel.CRITICAL, "EVSE 1: tilt detected") in logged
    assert len(logged) == 2  # state changes are live-only


def test_a_missing_led_is_kept_as_a_warning_and_its_return_as_info() -> None:
    lost = {"kind": "led", "raised": True, "vendor_error_code": "LED_MISSING", "detail": "no ACK"}
    back = {**lost, "raised": False, "detail": ""}
    at = NOW.isoformat()
    assert describe({"seq": 1, "type": "warning", "at": at, "data": lost}) == (
        EventLevel.WARNING,
        "led",
        "EVSE 1: WARNING. Vendor error code: LED_MISSING. no ACK",
    )
    assert describe({"seq": 2, "type": "warning", "at": at, "data": back})[0] is EventLevel.INFO
