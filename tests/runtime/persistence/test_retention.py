"""The event log and the meter samples stay bounded on the data partition; the newest are kept.

Through the real stores on a real SQLite file: rows beyond the cap or older than a year go, a
few at a time per write; the billing values in the transaction rows never do.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLevel, EventLog
from runtime.persistence.retention import (
    EVENT_DATA_MAX_BYTES,
    EVENT_MESSAGE_MAX_CHARS,
    Retention,
)
from runtime.persistence.transaction_records import StopReason
from runtime.persistence.transactions import TransactionStore

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TWO_YEARS = timedelta(days=730)
SMALL = Retention(max_rows=50, max_age=timedelta(days=365), batch_rows=10)


def sample(store: TransactionStore, transaction_id: int, at: datetime, wh: int) -> None:
    store.add_sample(transaction_id, at, wh, 1000.0, (5.0, 5.0, 5.0))


def count(db: Database, table: str) -> int:
    with db.read() as connection:
        return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def file_bytes(db: Database) -> int:
    with db.read() as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    return int(pages * size)


def test_meter_samples_past_the_cap_keep_only_the_newest(db: Database, rng: random.Random) -> None:
    store = TransactionStore(db, sample_retention=SMALL)
    tx = store.start("FB433810", 0, 1, T0, rng)
    for n in range(200):
        sample(store, tx.transaction_id, T0 + timedelta(seconds=n), n)
    assert count(db, "meter_samples") == 50
    assert [s.energy_wh for s in store.samples(tx.transaction_id)] == list(range(150, 200))


def test_meter_samples_older_than_a_year_are_pruned_but_not_the_transaction(
    db: Database, rng: random.Random
) -> None:
    store = TransactionStore(db)
    old = store.start("FB433810", 1000, 1, T0 - TWO_YEARS, rng)
    for n in range(30):
        sample(store, old.transaction_id, T0 - TWO_YEARS + timedelta(minutes=n), 1000 + n)
    store.stop(old.transaction_id, 1500, StopReason.LOCAL, T0 - TWO_YEARS + timedelta(hours=1))
    new = store.start("FB433810", 2000, 1, T0, rng)
    sample(store, new.transaction_id, T0, 2000)
    assert store.samples(old.transaction_id) == []
    kept = store.get(old.transaction_id)
    assert kept is not None and (kept.meter_start_wh, kept.meter_stop_wh) == (1000, 1500)
    assert len(store.samples(new.transaction_id)) == 1


def test_the_newest_sample_of_an_open_transaction_is_never_pruned(
    db: Database, rng: random.Random
) -> None:
    store = TransactionStore(db, sample_retention=SMALL)
    open_tx = store.start("FB433810", 1000, 1, T0 - TWO_YEARS, rng)
    sample(store, open_tx.transaction_id, T0 - TWO_YEARS, 999)
    sample(store, open_tx.transaction_id, T0 - TWO_YEARS, 5000)
    other = store.start("04A2B3C4", 0, 2, T0, rng)
    for n in range(100):
        sample(store, other.transaction_id, T0 + timedelta(seconds=n), n)
    assert [s.energy_wh for s in store.samples(open_tx.transaction_id)] == [5000]
    assert store.last_known_meter_wh(open_tx) == 5000  # what a crash recovery closes it with
    assert count(db, "meter_samples") <= SMALL.max_rows + 1


def test_a_prune_deletes_a_small_batch_per_write_and_the_backlog_drains(
    db: Database, rng: random.Random
) -> None:
    roomy = TransactionStore(db, sample_retention=Retention(1000, timedelta(days=365), 10))
    tx = roomy.start("FB433810", 0, 1, T0, rng)
    for n in range(100):
        sample(roomy, tx.transaction_id, T0, n)
    tight = TransactionStore(db, sample_retention=Retention(10, timedelta(days=365), 5))
    sample(tight, tx.transaction_id, T0, 100)
    assert count(db, "meter_samples") == 101 - 5
    for n in range(30):
        sample(tight, tx.transaction_id, T0, 101 + n)
    assert count(db, "meter_samples") == 10
    assert store_energies(tight, tx.transaction_id) == list(range(121, 131))


def store_energies(store: TransactionStore, transaction_id: int) -> list[int]:
    return [s.energy_wh for s in store.samples(transaction_id)]


def test_events_older_than_a_year_are_pruned(db: Database) -> None:
    log = EventLog(db)
    for n in range(20):
        log.append("evse", EventLevel.ERROR, f"old{n}", "m", now=T0 - TWO_YEARS)
    log.append("evse", EventLevel.ERROR, "new", "m", now=T0)
    assert [e.code for e in log.recent(100)] == ["new"]


def test_events_past_the_cap_keep_only_the_newest(db: Database) -> None:
    log = EventLog(db, retention=SMALL)
    for n in range(120):
        log.append("evse", EventLevel.ERROR, f"c{n}", "m", now=T0)
    assert len(log) == 50
    assert [e.code for e in log.recent(2)] == ["c119", "c118"]


def test_an_event_row_is_bounded_so_the_row_cap_is_a_size_cap(db: Database) -> None:
    log = EventLog(db)
    before = file_bytes(db)
    rows = 300
    for _ in range(rows):
        event = log.append(
            "evse",
            EventLevel.ERROR,
            "fault",
            "x" * 100_000,
            now=T0,
            data={"detail": "y" * 100_000},
        )
    assert len(event.message) == EVENT_MESSAGE_MAX_CHARS and event.message.endswith("…")
    assert len(str(event.data)) < EVENT_DATA_MAX_BYTES and "omitted" in event.data
    assert (file_bytes(db) - before) / rows < 2048  # the README's "under 2 KiB a row"


@pytest.mark.parametrize("rows", [2000])
def test_a_meter_sample_row_takes_about_100_bytes(
    db: Database, rng: random.Random, rows: int
) -> None:
    store = TransactionStore(db)
    tx = store.start("FB433810", 0, 1, T0, rng)
    before = file_bytes(db)
    for n in range(rows):
        sample(store, tx.transaction_id, T0 + timedelta(seconds=n), 10_000_000 + n)
    assert (file_bytes(db) - before) / rows < 110  # the README's "about 10 MiB" for 100,000
