"""How much the event log and the meter samples keep on the data partition, and the pruning.

A table keeps at most `max_rows` rows and none older than `max_age`. Every write prunes at most
`batch_rows` of the oldest rows in its own SQLite transaction, so a prune holds the database
lock for a bounded, small time; a backlog (a lowered cap, a clock that jumped) drains over the
next writes. With every row's size bounded too, the row cap is a size cap (see the constants).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from runtime.persistence.timestamps import to_db

PRUNE_BATCH_ROWS = 100  # rows one write may delete: well under a millisecond of lock time


@dataclass(frozen=True)
class Retention:
    """What one table keeps."""

    max_rows: int
    max_age: timedelta
    batch_rows: int = PRUNE_BATCH_ROWS

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {self.max_rows}")
        if self.max_age <= timedelta(0):
            raise ValueError(f"max_age must be positive, got {self.max_age}")
        if self.batch_rows < 2:  # each write adds one row: a batch of one would never catch up
            raise ValueError(f"batch_rows must be >= 2, got {self.batch_rows}")


# Event log: a year of faults and security events covers a yearly service visit. Messages are
# cut at EVENT_MESSAGE_MAX_CHARS and data above EVENT_DATA_MAX_BYTES is replaced by a note, so a
# row is under 2 KiB and the log under 10,000 x 2 KiB = 20 MiB (typically ~300 B a row, 3 MiB).
EVENT_LOG_RETENTION = Retention(max_rows=10_000, max_age=timedelta(days=365))
EVENT_MESSAGE_MAX_CHARS = 500
EVENT_DATA_MAX_BYTES = 1024

# Meter samples are diagnostic: billing rests on each transaction's start and stop values in
# its own row, never pruned. A sample row is ~100 B with its index entry: 100,000 rows are about
# 10 MiB, 69 days of uninterrupted charging at the 60 s default interval. The newest sample of
# an open transaction is never pruned: after a crash it is that transaction's last known meter
# value (TransactionStore.last_known_meter_wh).
METER_SAMPLE_RETENTION = Retention(max_rows=100_000, max_age=timedelta(days=365))


def prune_oldest(
    connection: sqlite3.Connection,
    table: str,
    rule: Retention,
    now: datetime,
    protected: str = "",
) -> int:
    """Delete up to `rule.batch_rows` of `table`'s oldest rows beyond the rule; rows matched by
    the SQL condition `protected` stay. The table needs an integer `id` growing with each insert
    and an `at` timestamp column; returns the rows deleted."""
    keep = f" AND NOT ({protected})" if protected else ""
    # Ids are unique integers: at most max_rows of them lie above MAX(id) - max_rows.
    over_cap = connection.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"
        f" WHERE id <= (SELECT MAX(id) FROM {table}) - ?{keep} ORDER BY id LIMIT ?)",
        (rule.max_rows, rule.batch_rows),
    ).rowcount
    budget = rule.batch_rows - over_cap
    if budget <= 0:
        return over_cap
    # Only the oldest `budget` rows are looked at, so the cost never grows with the table.
    too_old = connection.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, at FROM {table}"
        f" ORDER BY id LIMIT ?) WHERE at < ?{keep})",
        (budget, to_db(now - rule.max_age)),
    ).rowcount
    return over_cap + too_old
