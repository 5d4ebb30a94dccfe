"""Fixtures for persistence tests: a fresh database file per test and a seeded random source."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.persistence.database import Database
from runtime.persistence.transactions import TransactionStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "chargeos.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database.open(db_path)
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> TransactionStore:
    return TransactionStore(db)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(61851)
