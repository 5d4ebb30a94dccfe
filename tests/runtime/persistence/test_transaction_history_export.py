"""Download Full History: the Transactions page's columns as JSON and CSV, streamed, exact kWh."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from runtime.persistence.transaction_export import LABELS, hms, write_json
from runtime.persistence.transactions import StopReason, Transaction, TransactionStore

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
EXPECTED_LABELS = (
    "TX No",
    "TX ID",
    "Time Start",
    "Time End",
    "Duration",
    "Energy Start [kWh]",
    "Energy End [kWh]",
    "Energy Used [kWh]",
    "Average Power [kW]",
    "RFID Tag",
    "EVSE",
    "TX Status",
)


class FixedId:
    def __init__(self, value: int) -> None:
        self.value = value

    def randrange(self, start: int, stop: int) -> int:
        return self.value


@pytest.fixture
def history(store: TransactionStore) -> TransactionStore:
    """One ended transaction (11 kWh in 1 h 0 min 3 s) and one still charging."""
    ended = store.start("04A1B2C3", 1_234_567, 1, T0, FixedId(1370299737))
    store.stop(ended.transaction_id, 1_245_567, StopReason.LOCAL, T0 + timedelta(seconds=3603))
    store.start("DEFAULT", 5, 2, T0 + timedelta(hours=1), FixedId(7))
    return store


def test_json_history_has_the_manual_columns_in_order(history: TransactionStore) -> None:
    stream = io.StringIO()
    assert history.export_json(stream, NOW) == 2
    rows = json.loads(stream.getvalue())
    assert LABELS == EXPECTED_LABELS
    assert [tuple(row) for row in rows] == [EXPECTED_LABELS, EXPECTED_LABELS]


def test_json_history_values_of_an_ended_transaction(history: TransactionStore) -> None:
    stream = io.StringIO()
    history.export_json(stream, NOW)
    ended = json.loads(stream.getvalue(), parse_float=Decimal)[0]
    assert ended == {
        "TX No": 1,
        "TX ID": 1370299737,
        "Time Start": "2024-05-01T10:00:00+00:00",
        "Time End": "2024-05-01T11:00:03+00:00",
        "Duration": "1:00:03",
        "Energy Start [kWh]": Decimal("1234.567"),
        "Energy End [kWh]": Decimal("1245.567"),
        "Energy Used [kWh]": Decimal("11.000"),
        "Average Power [kW]": Decimal("10.991"),
        "RFID Tag": "04A1B2C3",
        "EVSE": 1,
        "TX Status": "ended",
    }


def test_json_history_writes_energies_with_exactly_three_decimals(
    history: TransactionStore,
) -> None:
    stream = io.StringIO()
    history.export_json(stream, NOW)
    text = stream.getvalue()
    assert '"Energy Used [kWh]": 11.000,' in text
    assert '"Energy Start [kWh]": 0.005,' in text


def test_an_active_transaction_has_no_end_and_lasts_until_now(history: TransactionStore) -> None:
    stream = io.StringIO()
    history.export_json(stream, NOW)
    active = json.loads(stream.getvalue())[1]
    assert active["TX Status"] == "active"
    assert active["Time End"] is None
    assert active["Duration"] == "2:00:00"
    assert active["Energy End [kWh]"] is None
    assert active["Energy Used [kWh]"] is None
    assert active["Average Power [kW]"] is None


def test_csv_history_has_a_header_row_and_the_same_values(history: TransactionStore) -> None:
    stream = io.StringIO(newline="")
    assert history.export_csv(stream, NOW) == 2
    header, ended, active = list(csv.reader(io.StringIO(stream.getvalue(), newline="")))
    assert tuple(header) == EXPECTED_LABELS
    assert ended == [
        "1",
        "1370299737",
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T11:00:03+00:00",
        "1:00:03",
        "1234.567",
        "1245.567",
        "11.000",
        "10.991",
        "04A1B2C3",
        "1",
        "ended",
    ]
    assert active[3] == active[6] == active[7] == active[8] == ""
    assert active[-1] == "active"


def test_times_are_shown_in_the_installer_time_zone_when_asked(
    history: TransactionStore,
) -> None:
    stream = io.StringIO()
    history.export_json(stream, NOW, tz=timezone(timedelta(hours=2)))
    assert json.loads(stream.getvalue())[0]["Time Start"] == "2024-05-01T12:00:00+02:00"


def test_an_empty_history_is_an_empty_list_and_a_header(store: TransactionStore) -> None:
    stream = io.StringIO()
    assert store.export_json(stream, NOW) == 0
    assert json.loads(stream.getvalue()) == []
    stream = io.StringIO()
    assert store.export_csv(stream, NOW) == 0
    assert stream.getvalue() == ",".join(EXPECTED_LABELS) + "\r\n"


def test_export_writes_each_row_before_reading_the_next(store: TransactionStore) -> None:
    rng = random.Random(1)
    for evse in range(1, 6):
        store.start("TAG", 0, evse, T0, rng)
    stream = io.StringIO()
    written_before_each: list[int] = []

    def watched() -> Iterator[Transaction]:
        for tx in store.all(page_size=2):
            written_before_each.append(stream.getvalue().count('"TX No"'))
            yield tx

    write_json(watched(), stream, NOW, UTC)
    assert written_before_each == [0, 1, 2, 3, 4]


def test_durations_longer_than_a_day_keep_counting_hours() -> None:
    assert hms(timedelta(days=1, hours=2, minutes=3, seconds=4.9)) == "26:03:04"
    assert hms(timedelta(0)) == "0:00:00"


def test_the_full_history_of_many_transactions_round_trips(
    store: TransactionStore, rng: random.Random
) -> None:
    for n in range(600):
        tx = store.start(f"TAG{n}", n * 1000, 1, T0 + timedelta(hours=n), rng)
        store.stop(tx.transaction_id, n * 1000 + n, StopReason.LOCAL, T0 + timedelta(hours=n + 1))
    stream = io.StringIO()
    assert store.export_json(stream, NOW) == 600
    rows = json.loads(stream.getvalue(), parse_float=Decimal)
    assert [row["TX No"] for row in rows] == list(range(1, 601))
    assert all(row["Energy Used [kWh]"] == Decimal(n).scaleb(-3) for n, row in enumerate(rows))
