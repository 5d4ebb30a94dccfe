"""Transactions: one per EVSE at a time, idempotent stop, integer Wh, closed once after a crash."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.persistence.database import Database
from runtime.persistence.errors import (
    MeterStopBelowStart,
    TransactionAlreadyActive,
    TransactionIdsExhausted,
    UnknownTransaction,
)
from runtime.persistence.transactions import (
    StopReason,
    Transaction,
    TransactionStatus,
    TransactionStore,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TAG = "04A1B2C3D4"


class Draws:
    """An id source that returns scripted values and records what it was asked for."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.asked: list[tuple[int, int]] = []

    def randrange(self, start: int, stop: int) -> int:
        self.asked.append((start, stop))
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_transactions_are_numbered_from_one_with_random_31_bit_ids(
    store: TransactionStore, rng: random.Random
) -> None:
    started = [store.start(TAG, 1000, evse, T0, rng) for evse in (1, 2, 3)]
    assert [tx.number for tx in started] == [1, 2, 3]
    assert all(1 <= tx.transaction_id < 2**31 for tx in started)
    assert len({tx.transaction_id for tx in started}) == 3


def test_a_started_transaction_is_active_with_its_start_values(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 1_234_567, 1, T0, rng)
    assert tx.status is TransactionStatus.ACTIVE
    assert (tx.id_tag, tx.evse_id, tx.meter_start_wh, tx.started_at) == (TAG, 1, 1_234_567, T0)
    assert (tx.ended_at, tx.meter_stop_wh, tx.stop_reason, tx.energy_used_wh) == (None,) * 4
    assert tx.csms_transaction_id is None
    assert store.active(1) == tx == store.get(tx.transaction_id)


def test_ids_are_drawn_from_1_to_2_pow_31_minus_1(store: TransactionStore) -> None:
    draws = Draws(2**31 - 1)
    assert store.start(TAG, 0, 1, T0, draws).transaction_id == 2**31 - 1
    assert draws.asked == [(1, 2**31)]
    assert store.start(TAG, 0, 2, T0, Draws(1)).transaction_id == 1


def test_a_drawn_id_already_in_use_is_drawn_again(store: TransactionStore) -> None:
    first = store.start(TAG, 0, 1, T0, Draws(42))
    second = store.start(TAG, 0, 2, T0, Draws(42, 42, 43))
    assert (first.transaction_id, second.transaction_id) == (42, 43)


def test_a_stuck_random_source_is_reported_and_writes_nothing(store: TransactionStore) -> None:
    store.start(TAG, 0, 1, T0, Draws(42))
    with pytest.raises(TransactionIdsExhausted, match="random source"):
        store.start(TAG, 0, 2, T0, Draws(42))
    assert store.count() == 1


def test_a_second_start_on_a_busy_evse_is_refused_and_writes_nothing(
    store: TransactionStore, rng: random.Random
) -> None:
    running = store.start(TAG, 1000, 1, T0, rng)
    with pytest.raises(TransactionAlreadyActive) as refused:
        store.start("OTHER", 2000, 1, T0 + HOUR, rng)
    assert refused.value.evse_id == 1
    assert refused.value.active_transaction_id == running.transaction_id
    assert str(running.transaction_id) in str(refused.value)
    assert store.count() == 1
    assert store.active(1) == running


def test_another_evse_can_start_while_one_is_busy(
    store: TransactionStore, rng: random.Random
) -> None:
    store.start(TAG, 1000, 1, T0, rng)
    assert store.start(TAG, 500, 2, T0, rng).evse_id == 2


def test_an_evse_can_start_again_once_its_transaction_stopped(
    store: TransactionStore, rng: random.Random
) -> None:
    first = store.start(TAG, 1000, 1, T0, rng)
    store.stop(first.transaction_id, 2000, StopReason.LOCAL, T0 + HOUR)
    second = store.start(TAG, 2000, 1, T0 + 2 * HOUR, rng)
    assert second.number == 2
    assert store.active(1) == second


def test_stop_ends_the_transaction_and_energy_used_is_stop_minus_start(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 1_234_567, 1, T0, rng)
    stopped = store.stop(tx.transaction_id, 1_245_567, StopReason.EV_DISCONNECTED, T0 + HOUR)
    assert stopped.status is TransactionStatus.ENDED
    assert stopped.ended_at == T0 + HOUR
    assert stopped.meter_stop_wh == 1_245_567
    assert stopped.stop_reason is StopReason.EV_DISCONNECTED
    assert stopped.energy_used_wh == 11_000
    assert store.active(1) is None
    assert store.get(tx.transaction_id) == stopped


def test_stopping_an_ended_transaction_again_returns_it_unchanged(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 1000, 1, T0, rng)
    first = store.stop(tx.transaction_id, 3000, StopReason.REMOTE, T0 + HOUR)
    again = store.stop(tx.transaction_id, 9000, StopReason.LOCAL, T0 + 5 * HOUR)
    assert again == first
    assert store.get(tx.transaction_id) == first


def test_a_stop_value_below_the_start_value_is_refused_and_the_transaction_stays_active(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 5000, 1, T0, rng)
    with pytest.raises(MeterStopBelowStart, match="4999 Wh is below meter start 5000 Wh"):
        store.stop(tx.transaction_id, 4999, StopReason.LOCAL, T0 + HOUR)
    assert store.active(1) == tx


def test_a_stop_value_equal_to_the_start_value_is_zero_energy(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 5000, 1, T0, rng)
    assert store.stop(tx.transaction_id, 5000, StopReason.LOCAL, T0).energy_used_wh == 0


def test_stopping_an_unknown_transaction_names_its_id(store: TransactionStore) -> None:
    with pytest.raises(UnknownTransaction, match="1370299737"):
        store.stop(1370299737, 10, StopReason.LOCAL, T0)


@pytest.mark.parametrize("reason", list(StopReason), ids=str)
def test_every_ocpp_stop_reason_can_be_stored(
    store: TransactionStore, rng: random.Random, reason: StopReason
) -> None:
    tx = store.start(TAG, 0, 1, T0, rng)
    assert store.stop(tx.transaction_id, 1, reason, T0).stop_reason is reason


@pytest.mark.parametrize("bad", [1.5, -1, True, "100"])
def test_meter_values_must_be_non_negative_integer_wh(
    store: TransactionStore, rng: random.Random, bad: object
) -> None:
    with pytest.raises(ValueError, match="integer number of Wh"):
        store.start(TAG, bad, 1, T0, rng)  # type: ignore[arg-type]
    tx = store.start(TAG, 0, 1, T0, rng)
    with pytest.raises(ValueError, match="integer number of Wh"):
        store.stop(tx.transaction_id, bad, StopReason.LOCAL, T0)  # type: ignore[arg-type]


def test_start_refuses_a_bad_tag_a_bad_evse_and_a_naive_time(
    store: TransactionStore, rng: random.Random
) -> None:
    for bad_tag in ("", "A" * 37, "NUL\x00BYTE", "line\nbreak"):
        with pytest.raises(ValueError, match="id_tag"):
            store.start(bad_tag, 0, 1, T0, rng)
    with pytest.raises(ValueError, match="evse_id"):
        store.start(TAG, 0, 0, T0, rng)
    with pytest.raises(ValueError, match="no time zone"):
        store.start(TAG, 0, 1, datetime(2024, 5, 1, 10, 0), rng)
    assert store.count() == 0


def test_duration_and_average_power_of_an_ended_transaction(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 10_000, 1, T0, rng)
    ended = store.stop(tx.transaction_id, 21_000, StopReason.LOCAL, T0 + 2 * HOUR)
    later = T0 + 10 * HOUR
    assert ended.duration_s(later) == 7200.0
    assert ended.average_power_w(later) == pytest.approx(5500.0)


def test_an_active_transaction_lasts_until_now_and_has_no_average_power_yet(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 10_000, 1, T0, rng)
    assert tx.duration_s(T0 + timedelta(minutes=30)) == 1800.0
    assert tx.average_power_w(T0 + timedelta(minutes=30)) is None


def test_zero_duration_and_a_clock_stepped_back_give_no_negative_numbers(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 0, 1, T0, rng)
    assert tx.duration_s(T0 - HOUR) == 0.0
    ended = store.stop(tx.transaction_id, 100, StopReason.LOCAL, T0)
    assert ended.duration_s(T0) == 0.0
    assert ended.average_power_w(T0) is None


def test_samples_are_kept_per_transaction_in_order(
    store: TransactionStore, rng: random.Random
) -> None:
    one = store.start(TAG, 1000, 1, T0, rng)
    two = store.start(TAG, 5000, 2, T0, rng)
    store.add_sample(one.transaction_id, T0 + HOUR, 1100, 7360.5, (10.0, 10.5, 11.0))
    store.add_sample(two.transaction_id, T0 + HOUR, 5200, 3680.0, (16.0, 0.0, 0.0))
    store.add_sample(one.transaction_id, T0 + 2 * HOUR, 1200, 7400.0, (10.1, 10.6, 11.1))
    samples = store.samples(one.transaction_id)
    assert [s.energy_wh for s in samples] == [1100, 1200]
    assert samples[0].currents_a == (10.0, 10.5, 11.0)
    assert samples[0].power_w == 7360.5
    assert samples[1].at == T0 + 2 * HOUR
    assert [s.energy_wh for s in store.samples(two.transaction_id)] == [5200]


def test_a_sample_for_an_unknown_transaction_is_refused(store: TransactionStore) -> None:
    with pytest.raises(UnknownTransaction):
        store.add_sample(99, T0, 10, 0.0, (0.0, 0.0, 0.0))


def test_recent_lists_the_newest_first(store: TransactionStore, rng: random.Random) -> None:
    for n in range(5):
        tx = store.start(TAG, n, 1, T0 + n * HOUR, rng)
        store.stop(tx.transaction_id, n + 1, StopReason.LOCAL, T0 + n * HOUR)
    assert [tx.number for tx in store.recent(3)] == [5, 4, 3]
    assert store.recent(0) == []


def test_all_reads_every_transaction_oldest_first_page_by_page(
    store: TransactionStore, rng: random.Random
) -> None:
    for n in range(7):
        store.start(TAG, n, n + 1, T0, rng)
    assert [tx.number for tx in store.all(page_size=3)] == list(range(1, 8))
    assert [tx.number for tx in store.all(page_size=7)] == list(range(1, 8))


def test_close_interrupted_ends_every_active_transaction_once(
    store: TransactionStore, rng: random.Random
) -> None:
    done = store.start(TAG, 100, 1, T0, rng)
    done = store.stop(done.transaction_id, 200, StopReason.LOCAL, T0 + HOUR)
    left = [store.start(TAG, 1000 * evse, evse, T0, rng) for evse in (1, 2)]
    asked: list[int] = []

    def meter_now(tx: Transaction) -> int:
        asked.append(tx.transaction_id)
        return tx.meter_start_wh + 42

    closed = store.close_interrupted(meter_now, now=T0 + 2 * HOUR)
    assert asked == [tx.transaction_id for tx in left]
    assert [tx.transaction_id for tx in closed] == asked
    for tx in closed:
        assert tx.status is TransactionStatus.ENDED
        assert tx.stop_reason is StopReason.REBOOT
        assert tx.energy_used_wh == 42
        assert tx.ended_at == T0 + 2 * HOUR
    assert store.get(done.transaction_id) == done
    assert store.close_interrupted(meter_now, StopReason.POWER_LOSS, now=T0 + 3 * HOUR) == []


def test_close_interrupted_uses_the_last_sample_when_the_meter_reads_below_start(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 5000, 1, T0, rng)
    store.add_sample(tx.transaction_id, T0 + HOUR, 5600, 0.0, (0.0, 0.0, 0.0))
    store.add_sample(tx.transaction_id, T0 + 2 * HOUR, 5900, 0.0, (0.0, 0.0, 0.0))
    [closed] = store.close_interrupted(lambda _: 0, StopReason.POWER_LOSS, now=T0 + 3 * HOUR)
    assert closed.meter_stop_wh == 5900
    assert closed.stop_reason is StopReason.POWER_LOSS


def test_last_known_meter_value_is_the_stop_the_highest_sample_or_the_start(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 5000, 1, T0, rng)
    assert store.last_known_meter_wh(tx) == 5000
    store.add_sample(tx.transaction_id, T0, 5300, 0.0, (0.0, 0.0, 0.0))
    assert store.last_known_meter_wh(tx) == 5300
    ended = store.stop(tx.transaction_id, 5400, StopReason.LOCAL, T0)
    assert store.last_known_meter_wh(ended) == 5400


def test_the_backoffice_transaction_id_is_recorded_and_found(
    store: TransactionStore, rng: random.Random
) -> None:
    tx = store.start(TAG, 0, 1, T0, rng)
    mapped = store.set_csms_transaction_id(tx.transaction_id, 1370299737)
    assert mapped.csms_transaction_id == 1370299737
    assert store.by_csms_transaction_id(1370299737) == mapped
    assert store.by_csms_transaction_id(1) is None
    with pytest.raises(UnknownTransaction):
        store.set_csms_transaction_id(12345, 1)


def test_transactions_survive_closing_and_reopening_the_file(
    db_path: Path, rng: random.Random
) -> None:
    with Database.open(db_path) as db:
        store = TransactionStore(db)
        ended = store.start(TAG, 1, 1, T0, rng)
        ended = store.stop(ended.transaction_id, 2, StopReason.LOCAL, T0 + HOUR)
        active = store.start(TAG, 2, 1, T0 + 2 * HOUR, rng)
    with Database.open(db_path) as db:
        store = TransactionStore(db)
        assert list(store.all()) == [ended, active]
        assert store.active(1) == active


def test_an_ocpp_2_id_token_of_36_characters_is_accepted(
    store: TransactionStore, rng: random.Random
) -> None:
    assert store.start("E" * 36, 0, 1, T0, rng).id_tag == "E" * 36


def test_unknown_lookups_return_none(store: TransactionStore) -> None:
    assert store.get(1) is None
    assert store.active(1) is None
    assert store.samples(1) == []
    assert list(store.all()) == []
