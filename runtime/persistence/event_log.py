"""Append-only event log for faults and security events (tilt/bump, RCM, login lockouts).

Each append is one SQLite transaction that also prunes the oldest rows beyond `max_rows`, so the
log never outgrows the data partition however long a fault repeats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from runtime.persistence.database import Database
from runtime.persistence.timestamps import from_db, to_db

DEFAULT_MAX_ROWS = 10_000
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
    """The event log in a Database, keeping the newest `max_rows` events."""

    def __init__(self, database: Database, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        """Log into `database`, pruning beyond `max_rows`."""
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self._db = database
        self._max_rows = max_rows

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
        """Record an event (data must be JSON-serialisable) and prune the oldest beyond max_rows."""
        level = EventLevel(level)
        payload = dict(data or {})
        try:
            text = json.dumps(payload, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"event {source}/{code}: data is not JSON ({error})") from error
        stamp = to_db(now)
        with self._db.write() as connection:
            cursor = connection.execute(
                "INSERT INTO events (at, source, level, code, message, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (stamp, source, level, code, message, text),
            )
            connection.execute(
                "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC"
                " LIMIT 1 OFFSET ?)",
                (self._max_rows,),
            )
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
