"""The transaction store: charging transactions and their meter samples, crash-safe.

Every operation is one SQLite transaction (synchronous=FULL), so a transaction is never lost or
duplicated across a crash: it is either committed whole or not at all. At service start,
`close_interrupted()` ends every transaction a crash or power cut left active, exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol, TextIO

from runtime.persistence.database import Database
from runtime.persistence.errors import (
    MeterStopBelowStart,
    TransactionAlreadyActive,
    TransactionIdsExhausted,
    UnknownTransaction,
)
from runtime.persistence.retention import METER_SAMPLE_RETENTION, Retention, prune_oldest
from runtime.persistence.timestamps import from_db, optional_from_db, to_db
from runtime.persistence.transaction_export import write_csv, write_json
from runtime.persistence.transaction_records import (
    MeterSample,
    StopReason,
    Transaction,
    TransactionStatus,
)
from runtime.persistence.values import require_evse, require_id_tag, require_wh

__all__ = [
    "MeterSample",
    "StopReason",
    "Transaction",
    "TransactionStatus",
    "TransactionStore",
]

log = logging.getLogger(__name__)

TRANSACTION_ID_MAX = 2**31 - 1  # the manual's TX IDs are positive 31-bit integers
MAX_ID_DRAWS = 64
DEFAULT_PAGE_SIZE = 256
SELECT = (
    "SELECT number, transaction_id, csms_transaction_id, evse_id, id_tag, started_at, ended_at,"
    " meter_start_wh, meter_stop_wh, stop_reason, status FROM transactions"
)
SELECT_SAMPLES = (
    "SELECT transaction_id, at, energy_wh, power_w, current_l1_a, current_l2_a, current_l3_a"
    " FROM meter_samples"
)
# After a crash the newest sample of an open transaction is its last known meter value.
NEWEST_SAMPLE_OF_AN_OPEN_TRANSACTION = (
    "id IN (SELECT MAX(s.id) FROM meter_samples s JOIN transactions t"
    " ON t.transaction_id = s.transaction_id WHERE t.status = 'active' GROUP BY s.transaction_id)"
)
END_ACTIVE = (
    "UPDATE transactions SET status = 'ended', ended_at = ?, meter_stop_wh = ?, stop_reason = ?"
    " WHERE transaction_id = ? AND status = 'active'"
)

MeterStopFor = Callable[[Transaction], int]


class IdSource(Protocol):
    """Where random transaction ids come from (random.Random or random.SystemRandom)."""

    def randrange(self, start: int, stop: int) -> int:
        """A random integer in [start, stop)."""
        ...


class TransactionStore:
    """Charging transactions in a Database; every method is one SQLite transaction."""

    def __init__(
        self, database: Database, sample_retention: Retention = METER_SAMPLE_RETENTION
    ) -> None:
        """Use `database` (opened with the schema of runtime.persistence.schema); meter samples
        are kept as `sample_retention` says."""
        self._db = database
        self._sample_retention = sample_retention

    def start(
        self, id_tag: str, meter_start_wh: int, evse_id: int, now: datetime, rng: IdSource
    ) -> Transaction:
        """Begin a transaction on `evse_id`; TransactionAlreadyActive if one is running there."""
        require_wh("meter_start_wh", meter_start_wh)
        require_evse(evse_id)
        require_id_tag(id_tag)
        started_at = to_db(now)
        with self._db.write(f"record the start of a transaction on EVSE {evse_id}") as connection:
            running = _one(connection, "WHERE evse_id = ? AND status = 'active'", evse_id)
            if running is not None:
                raise TransactionAlreadyActive(evse_id, running.transaction_id)
            transaction_id = _unused_transaction_id(connection, rng)
            connection.execute(
                "INSERT INTO transactions"
                " (transaction_id, evse_id, id_tag, started_at, meter_start_wh, status)"
                " VALUES (?, ?, ?, ?, ?, 'active')",
                (transaction_id, evse_id, id_tag, started_at, meter_start_wh),
            )
            started = _one(connection, "WHERE transaction_id = ?", transaction_id)
        assert started is not None
        log.info("started transaction %s on EVSE %s", transaction_id, evse_id)
        return started

    def stop(
        self, transaction_id: int, meter_stop_wh: int, reason: StopReason, now: datetime
    ) -> Transaction:
        """End an active transaction; an already ended one is returned unchanged."""
        require_wh("meter_stop_wh", meter_stop_wh)
        reason = StopReason(reason)
        ended_at = to_db(now)
        with self._db.write(f"record the end of transaction {transaction_id}") as connection:
            current = _one(connection, "WHERE transaction_id = ?", transaction_id)
            if current is None:
                raise UnknownTransaction(transaction_id)
            if not current.is_active:
                return current
            if meter_stop_wh < current.meter_start_wh:
                raise MeterStopBelowStart(transaction_id, current.meter_start_wh, meter_stop_wh)
            connection.execute(END_ACTIVE, (ended_at, meter_stop_wh, reason, transaction_id))
            stopped = _one(connection, "WHERE transaction_id = ?", transaction_id)
        assert stopped is not None
        log.info("stopped transaction %s (%s)", transaction_id, reason)
        return stopped

    def close_interrupted(
        self,
        meter_stop_wh_for: MeterStopFor,
        reason: StopReason = StopReason.REBOOT,
        *,
        now: datetime,
    ) -> list[Transaction]:
        """End every transaction left active by a crash (call once at service start)."""
        reason = StopReason(reason)
        ended_at = to_db(now)
        with self._db.read("read the transactions left active") as connection:
            interrupted = _many(connection, "WHERE status = 'active' ORDER BY number")
        # Ask for meter values outside the lock: the callback may read a device or the store.
        stops = [(tx, self._usable_stop(tx, meter_stop_wh_for)) for tx in interrupted]
        ended: list[Transaction] = []
        with self._db.write("close the transactions left active") as connection:
            for tx, meter_stop_wh in stops:
                params = (ended_at, meter_stop_wh, reason, tx.transaction_id)
                if connection.execute(END_ACTIVE, params).rowcount == 1:
                    now_ended = _one(connection, "WHERE transaction_id = ?", tx.transaction_id)
                    assert now_ended is not None
                    ended.append(now_ended)
        for tx in ended:
            log.warning(
                "closed interrupted transaction %s on EVSE %s at %s Wh (%s)",
                tx.transaction_id,
                tx.evse_id,
                tx.meter_stop_wh,
                reason,
            )
        return ended

    def check_writable(self) -> None:
        """Commit one small write; StorageFailed while the data partition refuses writes."""
        self._db.check_writable()

    def last_known_meter_wh(self, transaction: Transaction) -> int:
        """The highest meter value recorded for a transaction (its stop, samples or start)."""
        if transaction.meter_stop_wh is not None:
            return transaction.meter_stop_wh
        with self._db.read() as connection:
            row = connection.execute(
                "SELECT MAX(energy_wh) FROM meter_samples WHERE transaction_id = ?",
                (transaction.transaction_id,),
            ).fetchone()
        sampled = row[0] if row is not None and row[0] is not None else 0
        return max(transaction.meter_start_wh, int(sampled))

    def active(self, evse_id: int) -> Transaction | None:
        """The running transaction on `evse_id`, if any."""
        with self._db.read() as connection:
            return _one(connection, "WHERE evse_id = ? AND status = 'active'", evse_id)

    def get(self, transaction_id: int) -> Transaction | None:
        """The transaction with this (local) TX ID, if any."""
        with self._db.read() as connection:
            return _one(connection, "WHERE transaction_id = ?", transaction_id)

    def by_csms_transaction_id(self, csms_transaction_id: int) -> Transaction | None:
        """The newest transaction the backoffice knows by this id (OCPP 1.6 transactionId)."""
        with self._db.read() as connection:
            return _one(
                connection,
                "WHERE csms_transaction_id = ? ORDER BY number DESC LIMIT 1",
                csms_transaction_id,
            )

    def set_csms_transaction_id(
        self, transaction_id: int, csms_transaction_id: int | None
    ) -> Transaction:
        """Record the id the backoffice assigned (StartTransaction.conf) to a transaction."""
        with self._db.write(f"record the CSMS id of transaction {transaction_id}") as connection:
            cursor = connection.execute(
                "UPDATE transactions SET csms_transaction_id = ? WHERE transaction_id = ?",
                (csms_transaction_id, transaction_id),
            )
            if cursor.rowcount != 1:
                raise UnknownTransaction(transaction_id)
            updated = _one(connection, "WHERE transaction_id = ?", transaction_id)
        assert updated is not None
        return updated

    def recent(self, limit: int) -> list[Transaction]:
        """The newest `limit` transactions, newest first (the Transactions page)."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        with self._db.read() as connection:
            return _many(connection, "ORDER BY number DESC LIMIT ?", limit)

    def count(self) -> int:
        """How many transactions are stored."""
        with self._db.read() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])

    def all(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Transaction]:
        """Every transaction, oldest first, read page by page (the lock is not held between)."""
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        after = 0
        while True:
            with self._db.read() as connection:
                page = _many(
                    connection, "WHERE number > ? ORDER BY number LIMIT ?", after, page_size
                )
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].number

    def add_sample(
        self,
        transaction_id: int,
        at: datetime,
        energy_wh: int,
        power_w: float,
        currents_a: tuple[float, float, float],
    ) -> MeterSample:
        """Record one meter reading (energy register, power, L1 to L3 currents) of a transaction,
        and prune the oldest samples beyond the retention rule."""
        require_wh("energy_wh", energy_wh)
        if len(currents_a) != 3:
            raise ValueError(f"currents_a must hold L1, L2, L3, got {currents_a!r}")
        l1, l2, l3 = (float(current) for current in currents_a)
        stamp = to_db(at)
        with self._db.write(f"record a meter sample of transaction {transaction_id}") as connection:
            if _one(connection, "WHERE transaction_id = ?", transaction_id) is None:
                raise UnknownTransaction(transaction_id)
            connection.execute(
                "INSERT INTO meter_samples (transaction_id, at, energy_wh, power_w,"
                " current_l1_a, current_l2_a, current_l3_a) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (transaction_id, stamp, energy_wh, float(power_w), l1, l2, l3),
            )
            prune_oldest(
                connection,
                "meter_samples",
                self._sample_retention,
                at,
                protected=NEWEST_SAMPLE_OF_AN_OPEN_TRANSACTION,
            )
        return MeterSample(transaction_id, from_db(stamp), energy_wh, float(power_w), (l1, l2, l3))

    def samples(self, transaction_id: int) -> list[MeterSample]:
        """The meter samples of a transaction, oldest first."""
        with self._db.read() as connection:
            rows = connection.execute(
                f"{SELECT_SAMPLES} WHERE transaction_id = ? ORDER BY id", (transaction_id,)
            ).fetchall()
        return [_to_sample(row) for row in rows]

    def export_json(self, stream: TextIO, now: datetime, tz: tzinfo = UTC) -> int:
        """Write the full history as a JSON array (Download Full History); returns the rows."""
        return write_json(self.all(), stream, now, tz)

    def export_csv(self, stream: TextIO, now: datetime, tz: tzinfo = UTC) -> int:
        """Write the full history as CSV with a header row; returns the rows written."""
        return write_csv(self.all(), stream, now, tz)

    def _usable_stop(self, transaction: Transaction, meter_stop_wh_for: MeterStopFor) -> int:
        value = meter_stop_wh_for(transaction)
        usable = isinstance(value, int) and not isinstance(value, bool)
        if usable and value >= transaction.meter_start_wh:
            return value
        fallback = self.last_known_meter_wh(transaction)
        log.warning(
            "transaction %s: meter stop %r is unusable (start %s Wh); using %s Wh",
            transaction.transaction_id,
            value,
            transaction.meter_start_wh,
            fallback,
        )
        return fallback


def _unused_transaction_id(connection: sqlite3.Connection, rng: IdSource) -> int:
    for _ in range(MAX_ID_DRAWS):
        candidate = rng.randrange(1, TRANSACTION_ID_MAX + 1)
        taken = connection.execute(
            "SELECT 1 FROM transactions WHERE transaction_id = ?", (candidate,)
        ).fetchone()
        if taken is None:
            return candidate
    raise TransactionIdsExhausted(MAX_ID_DRAWS)


def _one(connection: sqlite3.Connection, where: str, *params: Any) -> Transaction | None:
    row = connection.execute(f"{SELECT} {where}", params).fetchone()
    return None if row is None else _to_transaction(row)


def _many(connection: sqlite3.Connection, where: str, *params: Any) -> list[Transaction]:
    return [_to_transaction(row) for row in connection.execute(f"{SELECT} {where}", params)]


def _to_transaction(row: tuple[Any, ...]) -> Transaction:
    (number, transaction_id, csms_id, evse_id, id_tag, started, ended, start_wh, stop_wh) = row[:9]
    reason, status = row[9:]
    return Transaction(
        number=number,
        transaction_id=transaction_id,
        csms_transaction_id=csms_id,
        evse_id=evse_id,
        id_tag=id_tag,
        started_at=from_db(started),
        ended_at=optional_from_db(ended),
        meter_start_wh=start_wh,
        meter_stop_wh=stop_wh,
        stop_reason=None if reason is None else StopReason(reason),
        status=TransactionStatus(status),
    )


def _to_sample(row: tuple[Any, ...]) -> MeterSample:
    transaction_id, at, energy_wh, power_w, l1, l2, l3 = row
    return MeterSample(transaction_id, from_db(at), energy_wh, power_w, (l1, l2, l3))
