"""One SQLite connection per Database, guarded by a lock: WAL, synchronous=FULL, foreign keys on.

`Database.open()` checks integrity (PRAGMA quick_check) and applies pending schema migrations,
one transaction each, numbered by PRAGMA user_version. `write()` and `read()` hand out the
connection inside one SQLite transaction; stores build every operation on exactly one of them.
Every sqlite3 error inside one (disk full, I/O error, lock timeout) leaves as a StorageFailed
that names the file and the operation.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal

from runtime.config.atomic import fsync_directory
from runtime.persistence.errors import (
    DatabaseClosed,
    DatabaseCorrupt,
    DatabaseTooNew,
    MigrationFailed,
    PersistenceError,
    StorageFailed,
)
from runtime.persistence.schema import BREAKS_OLDER_READERS, MIGRATIONS

log = logging.getLogger(__name__)

Synchronous = Literal["FULL", "NORMAL"]
DEFAULT_BUSY_TIMEOUT_S = 5.0
# SQLite result codes that mean the file itself is damaged or not a database.
CORRUPTION_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
SHOWN_PROBLEMS = 3


def split_statements(script: str) -> list[str]:
    """The SQL statements of a script, in order; triggers, literals and comments kept whole."""
    statements: list[str] = []
    pending = ""
    *terminated, tail = script.split(";")
    for piece in terminated:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    rest = [line for line in (pending + tail).splitlines() if line.strip()]
    if any(not line.strip().startswith("--") for line in rest):
        raise ValueError(f"incomplete SQL statement (no closing ';'): {pending + tail!r}")
    return statements


class Database:
    """A SQLite database file opened for one process; safe to share between threads."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        """Wrap an open connection; use Database.open() instead."""
        self._path = path
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        migrations: Sequence[str] = MIGRATIONS,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> Database:
        """Open (or create) `path`, check its integrity and bring its schema up to date."""
        path = Path(path)
        try:
            connection = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise PersistenceError(
                f"{path}: cannot open database ({error}); does the data directory exist and "
                "is it writable?"
            ) from error
        database = cls(path, connection)
        try:
            database._configure(synchronous, busy_timeout_s)
            database._check_integrity()
            database._migrate(migrations)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise database._open_error(error) from error
        except BaseException:
            connection.close()
            raise
        # A new database file must survive a power cut as a directory entry, too.
        fsync_directory(path.parent)
        return database

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def user_version(self) -> int:
        """The schema version: how many migrations have been applied."""
        with self.read() as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def write(self, what: str = "write to the database") -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction: committed on exit, rolled back on error.

        `what` names the operation in the StorageFailed raised for any sqlite3 error.
        """
        with self._transaction("BEGIN IMMEDIATE", what) as connection:
            yield connection

    @contextmanager
    def read(self, what: str = "read the database") -> Iterator[sqlite3.Connection]:
        """The connection inside one read transaction: every query sees the same snapshot."""
        with self._transaction("BEGIN", what) as connection:
            yield connection

    def check_writable(self) -> None:
        """Commit one small write (the schema version, unchanged); StorageFailed if it fails."""
        with self.write("check that storage takes writes again") as connection:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            connection.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        """Close the connection; later use raises DatabaseClosed. Closing twice is harmless."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self, begin: str, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._live()
            if self._depth:
                # Nested use on the same thread joins the outer transaction.
                self._depth += 1
                try:
                    yield connection
                finally:
                    self._depth -= 1
                return
            try:
                connection.execute(begin)
            except sqlite3.Error as error:
                raise self._storage_error(what, error) from error
            self._depth = 1
            try:
                yield connection
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                self._roll_back(connection, what)
                raise self._storage_error(what, error) from error
            except BaseException:
                self._roll_back(connection, what)
                raise
            finally:
                self._depth = 0

    def _roll_back(self, connection: sqlite3.Connection, what: str) -> None:
        if not connection.in_transaction:
            return  # SQLite already rolled back (it does on SQLITE_FULL and I/O errors)
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            log.warning("%s: rollback after a failed %r also failed: %s", self._path, what, error)

    def _storage_error(self, what: str, error: sqlite3.Error) -> PersistenceError:
        if getattr(error, "sqlite_errorname", "") in CORRUPTION_CODES:
            return DatabaseCorrupt(self._path, f"{what}: {error}")
        return StorageFailed(self._path, what, error)

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise DatabaseClosed(self._path)
        return self._connection

    def _configure(self, synchronous: Synchronous, busy_timeout_s: float) -> None:
        connection = self._live()
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            connection.execute(f"PRAGMA synchronous = {synchronous}")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as error:
            raise self._open_error(error) from error
        if mode.lower() != "wal":
            raise PersistenceError(
                f"{self._path}: SQLite refused WAL journal mode (got {mode!r}); put the database "
                "on a local file system that supports shared memory"
            )

    def _check_integrity(self) -> None:
        try:
            rows = self._live().execute("PRAGMA quick_check(100)").fetchall()
        except sqlite3.DatabaseError as error:
            raise self._open_error(error) from error
        lines = [line for row in rows for line in str(row[0]).splitlines()]
        if lines != ["ok"]:
            shown = "; ".join(line for line in lines[:SHOWN_PROBLEMS] if "***" not in line)
            more = len(lines) - SHOWN_PROBLEMS
            raise DatabaseCorrupt(
                self._path, f"quick_check: {shown}" + (f" and {more} more" if more > 0 else "")
            )

    def _open_error(self, error: sqlite3.DatabaseError) -> PersistenceError:
        if getattr(error, "sqlite_errorname", "") in CORRUPTION_CODES:
            return DatabaseCorrupt(self._path, str(error))
        return PersistenceError(f"{self._path}: cannot use database ({error})")

    def _migrate(self, migrations: Sequence[str]) -> None:
        connection = self._live()
        current = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if current > len(migrations):
            # Written by a newer ChargeOS (e.g. an update that was rolled back): usable as it is
            # unless one of its migrations said older software must not touch it.
            oldest_reader = int(connection.execute("PRAGMA application_id").fetchone()[0])
            if oldest_reader > len(migrations):
                raise DatabaseTooNew(self._path, current, len(migrations))
            return
        for version in range(current + 1, len(migrations) + 1):
            self._apply_migration(version, migrations[version - 1])

    def _apply_migration(self, version: int, script: str) -> None:
        connection = self._live()
        statements = split_statements(script)
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            if int(connection.execute("PRAGMA user_version").fetchone()[0]) < version:
                for statement in statements:
                    connection.execute(statement)
                if script.lstrip().startswith(BREAKS_OLDER_READERS):
                    connection.execute(f"PRAGMA application_id = {version}")
                connection.execute(f"PRAGMA user_version = {version}")
            connection.execute("COMMIT")
        except BaseException as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise MigrationFailed(self._path, version, str(error)) from error
            raise
