"""Append-only event log for faults and security events (tilt/bump, RCM, login lockouts).

Each append is one SQLite transaction that also prunes a small batch of the oldest rows beyond
the retention rule (runtime.persistence.retention), and every row's size is bounded, so the log
never outgrows the data partition however long a fault repeats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from runtime.persistence.database import Database
from runtime.persistence.retention import (
    EVENT_DATA_MAX_BYTES,
    EVENT_LOG_RETENTION,
    EVENT_MESSAGE_MAX_CHARS,
    Retention,
    prune_oldest,
)
from runtime.persistence.timestamps import from_db, to_db

ELLIPSIS = "…"
SELECT = "SELECT id, at, source, level, code, message, data FROM events"


class EventLevel(StrEnum):
    """How serious an event is."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Event:
    """One logged event; `id` grows with every append and is never reused."""

    id: int
    at: datetime
    source: str
    level: EventLevel
    code: str
    message: str
    data: Mapping[str, Any]


class EventLog:
    """The event log in a Database, keeping what its retention rule allows."""

    def __init__(self, database: Database, retention: Retention = EVENT_LOG_RETENTION) -> None:
        """Log into `database`, pruning beyond `retention`."""
        self._db = database
        self._retention = retention

    def append(
        self,
        source: str,
        level: EventLevel,
        code: str,
        message: str,
        *,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Record an event (data must be JSON-serialisable; a long message is cut, large data
        replaced by a note) and prune the oldest beyond the retention rule."""
        level = EventLevel(level)
        payload = dict(data or {})
        try:
            text = json.dumps(payload, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"event {source}/{code}: data is not JSON ({error})") from error
        if len(text.encode()) > EVENT_DATA_MAX_BYTES:
            payload = {"omitted": f"{len(text.encode())} bytes of data (over the log's limit)"}
            text = json.dumps(payload)
        if len(message) > EVENT_MESSAGE_MAX_CHARS:
            message = message[: EVENT_MESSAGE_MAX_CHARS - len(ELLIPSIS)] + ELLIPSIS
        stamp = to_db(now)
        with self._db.write(f"record event {source}/{code}") as connection:
            cursor = connection.execute(
                "INSERT INTO events (at, source, level, code, message, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (stamp, source, level, code, message, text),
            )
            prune_oldest(connection, "events", self._retention, now)
        assert cursor.lastrowid is not None
        return Event(cursor.lastrowid, from_db(stamp), source, level, code, message, payload)

    def recent(self, limit: int, source: str | None = None) -> list[Event]:
        """The newest `limit` events, newest first, optionally of one source only."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        with self._db.read() as connection:
            if source is None:
                rows = connection.execute(f"{SELECT} ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = connection.execute(
                    f"{SELECT} WHERE source = ? ORDER BY id DESC LIMIT ?", (source, limit)
                )
            return [_to_event(row) for row in rows]

    def __len__(self) -> int:
        with self._db.read() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def _to_event(row: tuple[Any, ...]) -> Event:
    event_id, at, source, level, code, message, data = row
    return Event(event_id, from_db(at), source, EventLevel(level), code, message, json.loads(data))
