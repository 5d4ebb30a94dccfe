"""Crashes at any instant: no committed transaction is lost, none is duplicated or left open twice.

A helper process charges random sessions on two EVSEs; the test SIGKILLs it after a seeded random
delay, a hundred times. After every kill the database must be intact, keep everything it promised
(each line the helper printed after a commit), and close every interrupted transaction cleanly.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.persistence.database import Database
from runtime.persistence.transactions import Transaction, TransactionStatus, TransactionStore
from tests.soak import rounds

REPO = Path(__file__).resolve().parents[3]
HELPER = Path(__file__).parent / "session_writer.py"
RUNS = rounds(100, 1000)  # `make soak`: ten times as many
MAX_STEPS = 1_000_000
READY_TIMEOUT_S = 60
KILL_DELAY_S = (0.005, 0.200)
EVSES = (1, 2)  # as in session_writer.py
CLOSE_AT = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class Promises:
    """What the helper reported as committed, by transaction_id."""

    started: dict[int, tuple[int, int]] = field(default_factory=dict)  # evse, meter start
    ended: dict[int, int] = field(default_factory=dict)  # meter stop
    sampled: dict[int, set[int]] = field(default_factory=dict)  # energy values

    def read(self, stdout: bytes) -> None:
        for line in stdout.decode().split("\n")[:-1]:  # a torn last line promises nothing
            kind, *values = line.split()
            numbers = [int(value) for value in values]
            if kind == "start":
                self.started[numbers[0]] = (numbers[1], numbers[2])
            elif kind in ("stop", "closed"):
                self.ended[numbers[0]] = numbers[1]
            elif kind == "sample":
                self.sampled.setdefault(numbers[0], set()).add(numbers[1])


def run_until_killed(db_path: Path, seed: int, delay_s: float) -> bytes:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(HELPER), str(db_path), str(seed), str(MAX_STEPS)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    ready = process.stdout.readline() if readable else b""
    if ready != b"ready\n":
        process.kill()
        _, stderr = process.communicate(timeout=30)
        pytest.fail(f"session_writer.py did not start: {stderr.decode(errors='replace')}")
    time.sleep(delay_s)
    process.send_signal(signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=30)
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"session_writer.py failed before the kill: {stderr.decode(errors='replace')}")
    return stdout


def check_invariants(transactions: list[Transaction]) -> None:
    numbers = [tx.number for tx in transactions]
    assert numbers == list(range(1, len(numbers) + 1)), "TX No not sequential from 1"
    ids = [tx.transaction_id for tx in transactions]
    assert len(set(ids)) == len(ids), "duplicate TX ID"
    active_evses = [tx.evse_id for tx in transactions if tx.is_active]
    assert len(set(active_evses)) == len(active_evses), "two active transactions on one EVSE"


def check_promises(db: Database, by_id: dict[int, Transaction], promises: Promises) -> None:
    for transaction_id, (evse_id, meter_start_wh) in promises.started.items():
        tx = by_id.get(transaction_id)
        assert tx is not None, f"committed start of {transaction_id} lost"
        assert (tx.evse_id, tx.meter_start_wh) == (evse_id, meter_start_wh)
    for transaction_id, meter_stop_wh in promises.ended.items():
        tx = by_id.get(transaction_id)
        assert tx is not None and tx.meter_stop_wh == meter_stop_wh, f"stop of {transaction_id}"
    with db.read() as connection:
        kept = set(connection.execute("SELECT transaction_id, energy_wh FROM meter_samples"))
    promised = {(tx_id, wh) for tx_id, energies in promises.sampled.items() for wh in energies}
    assert promised <= kept, f"committed samples lost: {sorted(promised - kept)[:5]}"


def check_closing_a_copy(db: Database, scratch: Path, active: list[Transaction]) -> None:
    """close_interrupted on a copy ends each active transaction once, with consistent energy."""
    scratch.unlink(missing_ok=True)
    with db.read() as connection, sqlite3.connect(scratch) as copy:
        connection.backup(copy)
    copy.close()
    with Database.open(scratch) as copy_db:
        store = TransactionStore(copy_db)
        closed = store.close_interrupted(store.last_known_meter_wh, now=CLOSE_AT)
        assert [tx.transaction_id for tx in closed] == [tx.transaction_id for tx in active]
        assert store.close_interrupted(store.last_known_meter_wh, now=CLOSE_AT) == []
        assert all(store.active(evse) is None for evse in EVSES)
        check_ended(closed)


def check_ended(transactions: list[Transaction]) -> None:
    for tx in transactions:
        assert tx.status is TransactionStatus.ENDED
        assert tx.meter_stop_wh is not None and tx.meter_stop_wh >= tx.meter_start_wh
        assert tx.energy_used_wh == tx.meter_stop_wh - tx.meter_start_wh


def check_after_kill(
    db_path: Path, scratch: Path, promises: Promises, seen: dict[int, Transaction]
) -> dict[int, Transaction]:
    """Every check of one kill; returns the transactions now stored, by transaction_id."""
    with Database.open(db_path) as db:
        with db.read() as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        transactions = list(TransactionStore(db).all())
        assert len(transactions) >= len(seen), "transactions disappeared"
        check_invariants(transactions)
        by_id = {tx.transaction_id: tx for tx in transactions}
        check_promises(db, by_id, promises)
        for earlier in seen.values():
            now = by_id.get(earlier.transaction_id)
            assert now is not None and now.number == earlier.number
            if not earlier.is_active:
                assert now == earlier, f"ended transaction {now.transaction_id} changed"
        check_ended([tx for tx in transactions if not tx.is_active])
        check_closing_a_copy(db, scratch, [tx for tx in transactions if tx.is_active])
    return by_id


@pytest.mark.slow
@pytest.mark.soak
def test_kills_at_random_instants_never_lose_or_duplicate_a_transaction(tmp_path: Path) -> None:
    db_path = tmp_path / "chargeos.db"
    rng = random.Random(61851)
    promises = Promises()
    seen: dict[int, Transaction] = {}

    for run in range(RUNS):
        promises.read(run_until_killed(db_path, seed=run, delay_s=rng.uniform(*KILL_DELAY_S)))
        seen = check_after_kill(db_path, tmp_path / "copy.db", promises, seen)

    assert len(promises.started) > RUNS, "the helper hardly charged; kills came too early"
    with Database.open(db_path) as db:
        store = TransactionStore(db)
        store.close_interrupted(store.last_known_meter_wh, now=CLOSE_AT)
        check_ended(list(store.all()))
