"""Full transaction history as JSON or CSV, with the Transactions page's columns.

Rows are streamed from an iterator, never loaded whole. Energies are exact: integer Wh become
kWh with three decimals through Decimal, so an export never shows a float rounding artefact.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import TextIO

from runtime.persistence.transaction_records import Transaction

Cell = int | str | Decimal | None
THOUSANDTHS = Decimal("0.001")
# kW = Wh * 3600 s/h / s / 1000 W/kW = Wh * 3_600_000 / µs
WH_PER_US_TO_KW = 3_600_000


@dataclass(frozen=True)
class ExportContext:
    """What every cell may depend on besides the transaction: the clock and the time zone."""

    now: datetime
    tz: tzinfo


@dataclass(frozen=True)
class Column:
    """One column of the history: its label on the Transactions page and how to fill it."""

    label: str
    value_fn: Callable[[Transaction, ExportContext], Cell]


def kwh(wh: int | None) -> Decimal | None:
    """Integer Wh as kWh with exactly three decimals."""
    return None if wh is None else Decimal(wh).scaleb(-3).quantize(THOUSANDTHS)


def average_kw(tx: Transaction, ctx: ExportContext) -> Decimal | None:
    """Average power in kW with three decimals; None while active or for a zero duration."""
    used = tx.energy_used_wh
    micros = _micros(tx.duration(ctx.now))
    if used is None or micros == 0:
        return None
    return (Decimal(used * WH_PER_US_TO_KW) / Decimal(micros)).quantize(THOUSANDTHS, ROUND_HALF_UP)


def hms(duration: timedelta) -> str:
    """A duration as H:MM:SS (hours may exceed 24)."""
    seconds = int(duration.total_seconds())
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _local(moment: datetime | None, ctx: ExportContext) -> str | None:
    return None if moment is None else moment.astimezone(ctx.tz).isoformat(timespec="seconds")


def _micros(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


COLUMNS: tuple[Column, ...] = (
    Column("TX No", lambda tx, ctx: tx.number),
    Column("TX ID", lambda tx, ctx: tx.transaction_id),
    Column("Time Start", lambda tx, ctx: _local(tx.started_at, ctx)),
    Column("Time End", lambda tx, ctx: _local(tx.ended_at, ctx)),
    Column("Duration", lambda tx, ctx: hms(tx.duration(ctx.now))),
    Column("Energy Start [kWh]", lambda tx, ctx: kwh(tx.meter_start_wh)),
    Column("Energy End [kWh]", lambda tx, ctx: kwh(tx.meter_stop_wh)),
    Column("Energy Used [kWh]", lambda tx, ctx: kwh(tx.energy_used_wh)),
    Column("Average Power [kW]", average_kw),
    Column("RFID Tag", lambda tx, ctx: tx.id_tag),
    Column("EVSE", lambda tx, ctx: tx.evse_id),
    Column("TX Status", lambda tx, ctx: str(tx.status)),
)
LABELS = tuple(column.label for column in COLUMNS)


def row_of(tx: Transaction, now: datetime, tz: tzinfo) -> tuple[Cell, ...]:
    """The cells of one transaction, in COLUMNS order."""
    ctx = ExportContext(now, tz)
    return tuple(column.value_fn(tx, ctx) for column in COLUMNS)


def write_json(
    transactions: Iterable[Transaction], stream: TextIO, now: datetime, tz: tzinfo
) -> int:
    """Write a JSON array of objects keyed by the column labels; returns the rows written."""
    count = 0
    stream.write("[")
    for tx in transactions:
        stream.write(",\n" if count else "\n")
        stream.write(_json_object(row_of(tx, now, tz)))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def write_csv(
    transactions: Iterable[Transaction], stream: TextIO, now: datetime, tz: tzinfo
) -> int:
    """Write a header row and one row per transaction (empty cell for none); returns the rows."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(LABELS)
    count = 0
    for tx in transactions:
        writer.writerow("" if cell is None else str(cell) for cell in row_of(tx, now, tz))
        count += 1
    return count


def _json_object(cells: tuple[Cell, ...]) -> str:
    # Decimals are written as JSON number literals so "12.300" keeps its three decimals.
    members = (
        f"{json.dumps(label)}: {str(cell) if isinstance(cell, Decimal) else json.dumps(cell)}"
        for label, cell in zip(LABELS, cells, strict=True)
    )
    return "{" + ", ".join(members) + "}"
