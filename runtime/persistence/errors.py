"""Typed persistence errors: each says what went wrong, where, and what to do about it.

Callers catch `PersistenceError` for any of them, or one subclass for a rule they handle
(e.g. `TransactionAlreadyActive` when a second card is presented on a busy EVSE).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# What to do about a failed read or write, by SQLite's primary result code.
STORAGE_REMEDIES: dict[str, str] = {
    "SQLITE_FULL": "the data partition is full: free space on it (old exports, logs)",
    "SQLITE_IOERR": "the storage medium reported an I/O error: check or replace it",
    "SQLITE_READONLY": "the data partition is read-only: check its mount and permissions",
    "SQLITE_CANTOPEN": "a database file cannot be opened: check the data partition's mount",
    "SQLITE_BUSY": "another process held the write lock longer than the busy timeout: retry",
    "SQLITE_LOCKED": "another connection holds the database lock: retry, or restart the services",
    "SQLITE_CONSTRAINT": "a row broke a rule of the schema: report this as a software fault",
}
OTHER_REMEDY = "check the data partition and the service log"


class PersistenceError(Exception):
    """Base class of every error raised by runtime.persistence."""


class DatabaseCorrupt(PersistenceError):
    """The file is not a usable SQLite database, or its integrity check failed."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"{path}: database is corrupt or unreadable ({detail}); keep a copy for the service "
            "ticket, move the file aside and restart to start with an empty database"
        )


class DatabaseTooNew(PersistenceError):
    """The database schema was written by a newer ChargeOS than this one."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"{path}: schema version {found} is newer than this software knows ({known}); "
            "install the ChargeOS version that wrote it, or move the file aside"
        )


class MigrationFailed(PersistenceError):
    """A schema migration script failed; the database was left at the previous version."""

    def __init__(self, path: Path, version: int, detail: str) -> None:
        self.path = path
        self.version = version
        super().__init__(f"{path}: migration to schema version {version} failed: {detail}")


class DatabaseClosed(PersistenceError):
    """The Database was used after close()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path}: database is closed; open it again with Database.open()")


class StorageFailed(PersistenceError):
    """SQLite could not read or write the database (disk full, I/O error, read-only, locked)."""

    def __init__(self, path: Path, what: str, error: sqlite3.Error) -> None:
        self.path = path
        self.what = what
        self.code = str(getattr(error, "sqlite_errorname", "") or "SQLITE_ERROR")
        primary = self.code.split("_")[:2]
        remedy = STORAGE_REMEDIES.get("_".join(primary), OTHER_REMEDY)
        super().__init__(f"{path}: could not {what}: {error} ({self.code}); {remedy}")


class TransactionError(PersistenceError):
    """A transaction operation broke a rule of the transaction store."""


class TransactionAlreadyActive(TransactionError):
    """A transaction was started on an EVSE that already has an active one."""

    def __init__(self, evse_id: int, active_transaction_id: int) -> None:
        self.evse_id = evse_id
        self.active_transaction_id = active_transaction_id
        super().__init__(
            f"EVSE {evse_id} already has active transaction {active_transaction_id}; "
            "stop it before starting another"
        )


class UnknownTransaction(TransactionError):
    """No transaction has this transaction_id."""

    def __init__(self, transaction_id: int) -> None:
        self.transaction_id = transaction_id
        super().__init__(f"no transaction with TX ID {transaction_id}")


class MeterStopBelowStart(TransactionError):
    """A stop meter value is lower than the transaction's start value."""

    def __init__(self, transaction_id: int, meter_start_wh: int, meter_stop_wh: int) -> None:
        self.transaction_id = transaction_id
        self.meter_start_wh = meter_start_wh
        self.meter_stop_wh = meter_stop_wh
        super().__init__(
            f"transaction {transaction_id}: meter stop {meter_stop_wh} Wh is below meter start "
            f"{meter_start_wh} Wh; read the meter again (was it replaced or reset?)"
        )


class TransactionIdsExhausted(TransactionError):
    """No unused random transaction_id was found within the retry budget."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"no unused transaction_id after {attempts} random draws; is the random source stuck?"
        )
