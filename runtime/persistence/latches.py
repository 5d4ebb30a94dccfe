"""Latched faults and the tilt sensor's rest position, kept across restarts of `evse`.

A latched fault is one row, written when it is raised and deleted when it is cleared; the
calibration is one row, replaced on every explicit calibration. Each change is one SQLite
transaction (WAL, synchronous=FULL), so a kill at any instant leaves the old state or the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from runtime.hardware.types import Acceleration
from runtime.persistence.database import Database
from runtime.persistence.timestamps import from_db, to_db

StoredLatchKind = Literal["cleared", "power_cycle"]


@dataclass(frozen=True)
class StoredLatch:
    """A latched fault as stored: its kind, how it clears, when it was raised, why."""

    kind: str
    latch: StoredLatchKind
    raised_at: datetime
    detail: str


@dataclass(frozen=True)
class StoredCalibration:
    """The tilt sensor's rest position and when it was taken."""

    rest: Acceleration
    calibrated_at: datetime


class LatchStore:
    """Latched faults and the tilt calibration in a Database; each method one transaction."""

    def __init__(self, database: Database) -> None:
        """Keep the latches in `database`."""
        self._db = database

    def latched(self) -> tuple[StoredLatch, ...]:
        """Every latched fault, oldest first."""
        with self._db.read() as connection:
            rows = connection.execute(
                "SELECT kind, latch, raised_at, detail FROM latched_faults ORDER BY raised_at, kind"
            ).fetchall()
        return tuple(StoredLatch(kind, latch, from_db(at), text) for kind, latch, at, text in rows)

    def latch(self, kind: str, latch: StoredLatchKind, raised_at: datetime, detail: str) -> None:
        """Record that `kind` is latched (an already latched kind keeps its first record)."""
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO latched_faults (kind, latch, raised_at, detail) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (kind) DO NOTHING",
                (kind, latch, to_db(raised_at), detail),
            )

    def unlatch(self, kind: str) -> None:
        """Forget the latch of `kind` (it was cleared)."""
        with self._db.write() as connection:
            connection.execute("DELETE FROM latched_faults WHERE kind = ?", (kind,))

    def calibration(self) -> StoredCalibration | None:
        """The stored rest position, or None before the first calibration."""
        with self._db.read() as connection:
            row = connection.execute(
                "SELECT x_g, y_g, z_g, calibrated_at FROM tilt_calibration WHERE id = 1"
            ).fetchone()
        if row is None:
            return None
        x_g, y_g, z_g, at = row
        return StoredCalibration(Acceleration(float(x_g), float(y_g), float(z_g)), from_db(at))

    def forget_calibration(self) -> None:
        """An explicit calibration is asked for: the next sample, even after a restart, is taken."""
        with self._db.write() as connection:
            connection.execute("DELETE FROM tilt_calibration")

    def calibrate(self, rest: Acceleration, calibrated_at: datetime) -> None:
        """Store `rest` as the rest position, replacing the previous one."""
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO tilt_calibration (id, x_g, y_g, z_g, calibrated_at)"
                " VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET x_g = excluded.x_g,"
                " y_g = excluded.y_g, z_g = excluded.z_g, calibrated_at = excluded.calibrated_at",
                (rest.x_g, rest.y_g, rest.z_g, to_db(calibrated_at)),
            )
