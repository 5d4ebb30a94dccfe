"""OCPP authorization cache: the last known status of every id tag the backoffice answered for.

Bounded to `max_entries`; when full, the least recently used entry goes first (OCPP 1.6 §3.5.1
leaves the replacement policy to the charger). An entry past its expiry reads as Expired.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from runtime.persistence.database import Database
from runtime.persistence.timestamps import from_db, optional_from_db, to_db
from runtime.persistence.values import require_id_tag

DEFAULT_MAX_ENTRIES = 1000
NEXT_USE = "(SELECT COALESCE(MAX(last_used), 0) + 1 FROM auth_cache)"


class AuthorizationStatus(StrEnum):
    """OCPP 1.6 IdTagInfo.status."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True)
class AuthEntry:
    """One cached IdTagInfo."""

    id_tag: str
    status: AuthorizationStatus
    expires_at: datetime | None
    updated_at: datetime

    def is_expired(self, now: datetime) -> bool:
        """True once `now` reaches the expiry date (an entry without one never expires)."""
        return self.expires_at is not None and now >= self.expires_at


class AuthCache:
    """The authorization cache in a Database; every method is one SQLite transaction."""

    def __init__(self, database: Database, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        """Keep at most `max_entries` id tags in `database`."""
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self._db = database
        self._max_entries = max_entries

    @property
    def max_entries(self) -> int:
        """The most id tags kept."""
        return self._max_entries

    def put(
        self,
        id_tag: str,
        status: AuthorizationStatus,
        expiry: datetime | None,
        now: datetime,
    ) -> AuthEntry:
        """Store the backoffice's answer for `id_tag`, evicting the least recently used if full."""
        require_id_tag(id_tag)
        status = AuthorizationStatus(status)
        expires_at = None if expiry is None else to_db(expiry)
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO auth_cache (id_tag, status, expires_at, updated_at, last_used)"
                f" VALUES (?, ?, ?, ?, {NEXT_USE})"
                " ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status,"
                " expires_at = excluded.expires_at, updated_at = excluded.updated_at,"
                " last_used = excluded.last_used",
                (id_tag, status, expires_at, to_db(now)),
            )
            connection.execute(
                "DELETE FROM auth_cache WHERE id_tag IN (SELECT id_tag FROM auth_cache"
                " ORDER BY last_used DESC LIMIT -1 OFFSET ?)",
                (self._max_entries,),
            )
            entry = _entry(connection, id_tag)
        assert entry is not None
        return entry

    def get(self, id_tag: str, now: datetime) -> AuthEntry | None:
        """The cached entry (now most recently used), Expired once past its expiry, or None."""
        with self._db.write() as connection:
            entry = _entry(connection, id_tag)
            if entry is None:
                return None
            if entry.status is not AuthorizationStatus.EXPIRED and entry.is_expired(now):
                entry = replace(entry, status=AuthorizationStatus.EXPIRED, updated_at=_at(now))
            connection.execute(
                f"UPDATE auth_cache SET status = ?, updated_at = ?, last_used = {NEXT_USE}"
                " WHERE id_tag = ?",
                (entry.status, to_db(entry.updated_at), id_tag),
            )
        return entry

    def remove(self, id_tag: str) -> bool:
        """Forget one id tag; True if it was cached."""
        with self._db.write() as connection:
            cursor = connection.execute("DELETE FROM auth_cache WHERE id_tag = ?", (id_tag,))
            return cursor.rowcount == 1

    def clear(self) -> int:
        """Empty the cache (OCPP ClearCache); returns how many entries were removed."""
        with self._db.write() as connection:
            return int(connection.execute("DELETE FROM auth_cache").rowcount)

    def __len__(self) -> int:
        with self._db.read() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM auth_cache").fetchone()[0])


def _at(moment: datetime) -> datetime:
    return from_db(to_db(moment))


def _entry(connection: sqlite3.Connection, id_tag: str) -> AuthEntry | None:
    row: tuple[Any, ...] | None = connection.execute(
        "SELECT id_tag, status, expires_at, updated_at FROM auth_cache WHERE id_tag = ?",
        (id_tag,),
    ).fetchone()
    if row is None:
        return None
    return AuthEntry(
        id_tag=row[0],
        status=AuthorizationStatus(row[1]),
        expires_at=optional_from_db(row[2]),
        updated_at=from_db(row[3]),
    )
