"""Test helper: charge simulated sessions into a database as fast as it can, until it is killed.

Usage: session_writer.py DATABASE SEED MAX_STEPS. Prints "ready" once the database is open, then
one line per committed operation ("closed ID STOP", "start ID EVSE START", "sample ID WH",
"stop ID STOP", "refused EVSE"), flushed after the commit returns, so every printed line is a
promise the killer can check against the database.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from runtime.persistence.database import Database
from runtime.persistence.errors import TransactionAlreadyActive
from runtime.persistence.transactions import StopReason, TransactionStore

EVSES = (1, 2)


def say(line: str) -> None:
    """Report one committed operation."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def step(store: TransactionStore, rng: random.Random, meter_wh: dict[int, int]) -> None:
    """One random operation on one EVSE: start, double start, sample or stop."""
    evse = rng.choice(EVSES)
    active = store.active(evse)
    now = datetime.now(UTC)
    if active is None:
        tx = store.start(f"TAG{rng.randrange(100)}", meter_wh[evse], evse, now, rng)
        say(f"start {tx.transaction_id} {evse} {tx.meter_start_wh}")
        return
    roll = rng.random()
    if roll < 0.1:
        try:
            store.start("INTRUDER", meter_wh[evse], evse, now, rng)
        except TransactionAlreadyActive:
            say(f"refused {evse}")
            return
        raise AssertionError(f"a second transaction started on busy EVSE {evse}")
    meter_wh[evse] += rng.randrange(0, 500)
    if roll < 0.75:
        currents = (rng.uniform(0, 32), rng.uniform(0, 32), rng.uniform(0, 32))
        store.add_sample(active.transaction_id, now, meter_wh[evse], 7400.0, currents)
        say(f"sample {active.transaction_id} {meter_wh[evse]}")
    else:
        stopped = store.stop(active.transaction_id, meter_wh[evse], StopReason.LOCAL, now)
        say(f"stop {stopped.transaction_id} {stopped.meter_stop_wh}")


def main(argv: list[str]) -> None:
    """Close what the last kill interrupted, then run random sessions for at most `steps`."""
    path, seed, steps = Path(argv[0]), int(argv[1]), int(argv[2])
    rng = random.Random(seed)
    with Database.open(path) as db:
        say("ready")
        store = TransactionStore(db)
        for tx in store.close_interrupted(store.last_known_meter_wh, now=datetime.now(UTC)):
            say(f"closed {tx.transaction_id} {tx.meter_stop_wh}")
        meter_wh = {evse: 0 for evse in EVSES}
        for tx in store.recent(2 * len(EVSES) + 2):
            meter_wh[tx.evse_id] = max(meter_wh[tx.evse_id], store.last_known_meter_wh(tx))
        for _ in range(steps):
            step(store, rng, meter_wh)


if __name__ == "__main__":
    main(sys.argv[1:])
