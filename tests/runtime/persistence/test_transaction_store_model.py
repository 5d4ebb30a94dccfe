"""TransactionStore against a plain in-memory model, through random operations and reopens.

Hypothesis drives start, double start, sample, stop (also below start and repeated),
close_interrupted and reopening the file; after every step the stored history equals the model
and the invariants hold: TX No 1..n, unique TX IDs, at most one active per EVSE, exact energy.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from runtime.persistence.database import Database
from runtime.persistence.errors import MeterStopBelowStart, TransactionAlreadyActive
from runtime.persistence.transactions import (
    StopReason,
    Transaction,
    TransactionStatus,
    TransactionStore,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
EVSES = (1, 2, 3)
# Ids drawn from a small range, so collisions (and redraws) really happen.
ID_RANGE = 200
TAGS = st.sampled_from(["04A1B2C3D4", "DEFAULT", "A" * 36, "tag with spaces"])
METER_WH = st.integers(min_value=0, max_value=10**10)


class SmallIds:
    """An id source that draws from 1..ID_RANGE-1 whatever range it is asked for."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def randrange(self, start: int, stop: int) -> int:
        return self.random.randrange(start, min(stop, ID_RANGE))


@dataclass
class Model:
    """What one transaction should look like."""

    number: int
    transaction_id: int
    evse_id: int
    id_tag: str
    started_at: datetime
    meter_start_wh: int
    samples: list[int] = field(default_factory=list)
    ended_at: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: StopReason | None = None

    def expected(self) -> Transaction:
        status = TransactionStatus.ACTIVE if self.ended_at is None else TransactionStatus.ENDED
        return Transaction(
            number=self.number,
            transaction_id=self.transaction_id,
            csms_transaction_id=None,
            evse_id=self.evse_id,
            id_tag=self.id_tag,
            started_at=self.started_at,
            ended_at=self.ended_at,
            meter_start_wh=self.meter_start_wh,
            meter_stop_wh=self.meter_stop_wh,
            stop_reason=self.stop_reason,
            status=status,
        )

    def end(self, at: datetime, meter_stop_wh: int, reason: StopReason) -> None:
        self.ended_at, self.meter_stop_wh, self.stop_reason = at, meter_stop_wh, reason


class TransactionStoreMachine(RuleBasedStateMachine):
    """Random sequences of store operations, checked against the model after every step."""

    transactions = Bundle("transactions")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="chargeos-tx-model-"))
        self.db = Database.open(self.directory / "chargeos.db")
        self.store = TransactionStore(self.db)
        self.ids = SmallIds(0)
        self.now = T0
        self.model: dict[int, Model] = {}

    @initialize(seed=st.integers(min_value=0, max_value=2**32))
    def seed_ids(self, seed: int) -> None:
        self.ids = SmallIds(seed)

    def tick(self, seconds: int = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def active_model(self, evse_id: int) -> Model | None:
        running = [m for m in self.model.values() if m.evse_id == evse_id and m.ended_at is None]
        assert len(running) <= 1
        return running[0] if running else None

    @rule(target=transactions, evse_id=st.sampled_from(EVSES), tag=TAGS, meter=METER_WH)
    def start(self, evse_id: int, tag: str, meter: int) -> object:
        at = self.tick()
        if self.active_model(evse_id) is not None:
            with pytest.raises(TransactionAlreadyActive):
                self.store.start(tag, meter, evse_id, at, self.ids)
            return multiple()
        tx = self.store.start(tag, meter, evse_id, at, self.ids)
        assert tx.transaction_id not in self.model
        self.model[tx.transaction_id] = Model(
            len(self.model) + 1, tx.transaction_id, evse_id, tag, at, meter
        )
        return tx.transaction_id

    @rule(transaction_id=transactions, delta=st.integers(min_value=0, max_value=10**6))
    def sample(self, transaction_id: int, delta: int) -> None:
        model = self.model[transaction_id]
        energy = model.meter_start_wh + delta
        self.store.add_sample(transaction_id, self.tick(), energy, 7400.0, (10.0, 10.0, 10.0))
        model.samples.append(energy)

    @rule(
        transaction_id=transactions,
        delta=st.integers(min_value=-(10**4), max_value=10**6),
        reason=st.sampled_from(StopReason),
    )
    def stop(self, transaction_id: int, delta: int, reason: StopReason) -> None:
        model = self.model[transaction_id]
        before = model.expected()
        meter_stop = max(0, model.meter_start_wh + delta)
        at = self.tick()
        if model.ended_at is not None:
            assert self.store.stop(transaction_id, meter_stop, reason, at) == before
        elif meter_stop < model.meter_start_wh:
            with pytest.raises(MeterStopBelowStart):
                self.store.stop(transaction_id, meter_stop, reason, at)
        else:
            model.end(at, meter_stop, reason)
            assert self.store.stop(transaction_id, meter_stop, reason, at) == model.expected()

    @rule(
        offset=st.integers(min_value=-(10**4), max_value=10**6),
        reason=st.sampled_from(StopReason),
    )
    def close_interrupted(self, offset: int, reason: StopReason) -> None:
        at = self.tick(3600)
        closed = self.store.close_interrupted(
            lambda tx: max(0, tx.meter_start_wh + offset), reason, now=at
        )
        expected: list[Transaction] = []
        for model in sorted(self.model.values(), key=lambda m: m.number):
            if model.ended_at is None:
                meter = max(0, model.meter_start_wh + offset)
                if meter < model.meter_start_wh:  # unusable: the highest value recorded
                    meter = max([model.meter_start_wh, *model.samples])
                model.end(at, meter, reason)
                expected.append(model.expected())
        assert closed == expected

    @rule()
    def reopen(self) -> None:
        self.db.close()
        self.db = Database.open(self.directory / "chargeos.db")
        self.store = TransactionStore(self.db)

    @invariant()
    def stored_history_equals_the_model(self) -> None:
        stored = list(self.store.all(page_size=7))
        expected = [m.expected() for m in sorted(self.model.values(), key=lambda m: m.number)]
        assert stored == expected
        assert [tx.number for tx in stored] == list(range(1, len(stored) + 1))
        assert len({tx.transaction_id for tx in stored}) == len(stored)
        for tx in stored:
            assert 1 <= tx.transaction_id < ID_RANGE
            if tx.meter_stop_wh is not None:
                assert tx.energy_used_wh == tx.meter_stop_wh - tx.meter_start_wh >= 0

    @invariant()
    def at_most_one_active_transaction_per_evse(self) -> None:
        for evse_id in EVSES:
            model = self.active_model(evse_id)
            stored = self.store.active(evse_id)
            assert (stored.transaction_id if stored else None) == (
                model.transaction_id if model else None
            )

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.directory, ignore_errors=True)


TransactionStoreMachine.TestCase.settings = settings(max_examples=100, deadline=None)
TestTransactionStoreAgainstModel = TransactionStoreMachine.TestCase
