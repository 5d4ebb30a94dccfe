"""Event log: faults and security events appended, newest first, pruned to a maximum row count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLevel, EventLog
from runtime.persistence.retention import Retention

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_an_event_is_read_back_with_its_data(db: Database) -> None:
    log = EventLog(db)
    written = log.append(
        "safety", EventLevel.ERROR, "tilt", "tilt 35 deg over 30 deg", now=T0, data={"deg": 35}
    )
    [read] = log.recent(10)
    assert read == written
    assert (read.source, read.level, read.code, read.at) == ("safety", EventLevel.ERROR, "tilt", T0)
    assert read.data == {"deg": 35}


def test_recent_events_come_newest_first_and_can_be_filtered_by_source(db: Database) -> None:
    log = EventLog(db)
    for n in range(6):
        source = "safety" if n % 2 else "webapp"
        log.append(source, EventLevel.WARNING, f"code{n}", "m", now=T0 + timedelta(seconds=n))
    assert [e.code for e in log.recent(3)] == ["code5", "code4", "code3"]
    assert [e.code for e in log.recent(10, source="safety")] == ["code5", "code3", "code1"]
    assert log.recent(0) == []


def test_the_oldest_events_are_pruned_beyond_the_maximum(db: Database) -> None:
    log = EventLog(db, retention=Retention(max_rows=5, max_age=timedelta(days=365)))
    written = [
        log.append("rcm", EventLevel.CRITICAL, f"dc-leak-{n}", "6 mA DC", now=T0) for n in range(12)
    ]
    assert len(log) == 5
    assert [e.code for e in log.recent(100)] == [f"dc-leak-{n}" for n in range(11, 6, -1)]
    assert [e.id for e in written] == sorted({e.id for e in written})


def test_event_data_must_be_json(db: Database) -> None:
    log = EventLog(db)
    with pytest.raises(ValueError, match="login/lockout: data is not JSON"):
        log.append("login", EventLevel.WARNING, "lockout", "m", now=T0, data={"at": T0})
    with pytest.raises(ValueError, match="not JSON"):
        log.append("login", EventLevel.WARNING, "lockout", "m", now=T0, data={"x": float("nan")})
    assert len(log) == 0


def test_an_event_without_data_has_an_empty_mapping(db: Database) -> None:
    log = EventLog(db)
    log.append("evse", EventLevel.INFO, "boot", "started", now=T0)
    assert log.recent(1)[0].data == {}


def test_a_log_must_keep_at_least_one_event(db: Database) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        EventLog(db, retention=Retention(max_rows=0, max_age=timedelta(days=365)))
