"""Latched faults and the tilt calibration in the database: what a restart of evse finds again."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from runtime.hardware.types import Acceleration
from runtime.persistence.database import Database
from runtime.persistence.errors import StorageFailed
from runtime.persistence.latches import LatchStore

RAISED = dt.datetime(2026, 3, 10, 18, 1, tzinfo=dt.UTC)
UPRIGHT = Acceleration(0.0, 0.0, 1.0)


def test_a_latch_is_found_after_reopening_until_it_is_cleared(tmp_path: Path) -> None:
    path = tmp_path / "chargeos.db"
    with Database.open(path) as database:
        store = LatchStore(database)
        store.latch("tilt", "cleared", RAISED, "tilt")
        store.latch("tilt", "cleared", RAISED + dt.timedelta(hours=1), "bump")  # first one kept
        store.latch("rcm", "power_cycle", RAISED + dt.timedelta(minutes=1), "RCM tripped")
    with Database.open(path) as database:
        store = LatchStore(database)
        assert [(row.kind, row.latch, row.raised_at, row.detail) for row in store.latched()] == [
            ("tilt", "cleared", RAISED, "tilt"),
            ("rcm", "power_cycle", RAISED + dt.timedelta(minutes=1), "RCM tripped"),
        ]
        store.unlatch("tilt")
    with Database.open(path) as database:
        assert [row.kind for row in LatchStore(database).latched()] == ["rcm"]


def test_the_calibration_is_one_row_replaced_by_each_calibration(tmp_path: Path) -> None:
    with Database.open(tmp_path / "chargeos.db") as database:
        store = LatchStore(database)
        assert store.calibration() is None  # first start: the first sample calibrates
        store.calibrate(UPRIGHT, RAISED)
        leaning = Acceleration(0.2, 0.0, 0.98)
        store.calibrate(leaning, RAISED + dt.timedelta(days=1))
        stored = store.calibration()
        assert stored is not None and stored.rest == leaning
        assert stored.calibrated_at == RAISED + dt.timedelta(days=1)
        store.forget_calibration()  # an explicit calibrate is pending
        assert store.calibration() is None


def test_a_latch_that_is_no_known_kind_of_clearing_is_refused(tmp_path: Path) -> None:
    with (
        Database.open(tmp_path / "chargeos.db") as database,
        pytest.raises(StorageFailed, match="CHECK constraint failed") as refused,
        database.write() as connection,
    ):
        connection.execute(
            "INSERT INTO latched_faults VALUES ('tilt', 'self', ?, '')", (RAISED.isoformat(),)
        )
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)
