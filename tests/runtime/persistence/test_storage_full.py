"""A full data partition is a typed, located PersistenceError in every store, and passes.

The database lives on a small real tmpfs that the test fills; SQLite meets ENOSPC itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.persistence.database import Database
from runtime.persistence.errors import PersistenceError, StorageFailed
from runtime.persistence.event_log import EventLevel, EventLog
from runtime.persistence.transactions import TransactionStore
from tests.runtime.full_disk import DataPartition, small_data_partition

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def partition(tmp_path: Path) -> Iterator[DataPartition]:
    with small_data_partition(tmp_path / "data") as mounted:
        yield mounted


@pytest.fixture
def database(partition: DataPartition) -> Iterator[Database]:
    opened = Database.open(partition.mount_point / "chargeos.db")
    yield opened
    opened.close()


def test_a_start_on_a_full_partition_is_a_storage_failure_naming_file_and_remedy(
    partition: DataPartition, database: Database
) -> None:
    store = TransactionStore(database)
    partition.fill()
    with pytest.raises(StorageFailed) as failure:
        store.start("FB433810", 1000, 1, NOW, random.Random(1))
    assert isinstance(failure.value, PersistenceError)
    assert failure.value.code == "SQLITE_FULL"
    message = str(failure.value)
    assert str(database.path) in message
    assert "start of a transaction" in message
    assert "free space" in message
    assert store.active(1) is None  # reads still work, and nothing half-written shows


def test_samples_stops_and_events_on_a_full_partition_fail_typed_then_work_once_freed(
    partition: DataPartition, database: Database
) -> None:
    store, events = TransactionStore(database), EventLog(database)
    started = store.start("FB433810", 1000, 1, NOW, random.Random(1))
    partition.fill()
    with pytest.raises(StorageFailed, match="meter sample"):
        store.add_sample(started.transaction_id, NOW, 1100, 7000.0, (10.0, 10.0, 10.0))
    with pytest.raises(StorageFailed, match="end of transaction"):
        store.stop(started.transaction_id, 1200, "Local", NOW)
    with pytest.raises(StorageFailed, match="event"):
        events.append("evse", EventLevel.ERROR, "storage", "full", now=NOW)
    with pytest.raises(StorageFailed, match="storage takes writes"):
        database.check_writable()
    partition.free()
    database.check_writable()
    store.add_sample(started.transaction_id, NOW, 1100, 7000.0, (10.0, 10.0, 10.0))
    ended = store.stop(started.transaction_id, 1200, "Local", NOW)
    assert (ended.meter_stop_wh, [s.energy_wh for s in store.samples(ended.transaction_id)]) == (
        1200,
        [1100],
    )
