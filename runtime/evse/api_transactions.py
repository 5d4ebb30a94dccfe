"""Transaction routes of the evse local API: the recent list, one transaction, full exports.

Exports stream: TransactionStore.export_json/export_csv run in a worker thread and write
through a small buffer straight into the HTTP response, so a history of any length never sits
in memory, and a slow client slows the export down instead of filling the memory.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from aiohttp import hdrs, web

from runtime.evse.api_common import CONTEXT_KEY, ApiError, json_answer, parse_query
from runtime.evse.api_models import ExportFormat, TransactionList, TransactionRow, TransactionsQuery
from runtime.persistence.errors import PersistenceError
from runtime.persistence.transaction_export import ExportContext, average_kw, kwh
from runtime.persistence.transaction_records import Transaction

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
WRITE_TIMEOUT_S = 60.0  # a client that takes no data for this long loses its download
CONTENT_TYPES: dict[ExportFormat, str] = {"json": "application/json", "csv": "text/csv"}

Exporter = Callable[[TextIO, datetime, tzinfo], int]


def transaction_row(tx: Transaction, now: datetime) -> TransactionRow:
    """A stored transaction with the Transactions page's columns (energies in kWh)."""
    average = average_kw(tx, ExportContext(now, UTC))
    return TransactionRow(
        number=tx.number,
        transaction_id=tx.transaction_id,
        csms_transaction_id=tx.csms_transaction_id,
        started_at=tx.started_at,
        ended_at=tx.ended_at,
        duration_s=round(tx.duration_s(now), 1),
        meter_start_kwh=tx.meter_start_wh / 1000,
        meter_stop_kwh=_float(kwh(tx.meter_stop_wh)),
        energy_used_kwh=_float(kwh(tx.energy_used_wh)),
        average_power_kw=_float(average),
        id_tag=tx.id_tag,
        evse_id=tx.evse_id,
        status="active" if tx.is_active else "ended",
        stop_reason=None if tx.stop_reason is None else str(tx.stop_reason),
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


async def list_transactions(request: web.Request) -> web.Response:
    """GET /transactions?limit=N: the newest N transactions, newest first."""
    query = parse_query(request, TransactionsQuery)
    context = request.app[CONTEXT_KEY]
    recent = await asyncio.to_thread(context.transactions.recent, query.limit)
    now = context.controller.clock.now()
    return json_answer(
        TransactionList(transactions=tuple(transaction_row(tx, now) for tx in recent))
    )


async def get_transaction(request: web.Request) -> web.Response:
    """GET /transactions/{transaction_id}."""
    transaction_id = int(request.match_info["transaction_id"])
    context = request.app[CONTEXT_KEY]
    tx = await asyncio.to_thread(context.transactions.get, transaction_id)
    if tx is None:
        raise ApiError(404, f"no transaction with TX ID {transaction_id}")
    return json_answer(transaction_row(tx, context.controller.clock.now()))


async def export_json(request: web.Request) -> web.StreamResponse:
    """GET /transactions/export.json: the full history (Download Full History)."""
    return await _export(request, "json")


async def export_csv(request: web.Request) -> web.StreamResponse:
    """GET /transactions/export.csv: the full history as CSV."""
    return await _export(request, "csv")


def export_file_name(fmt: ExportFormat, now: datetime) -> str:
    """transactions_20220803T053042Z.json: the moment of the export, in UTC."""
    return f"transactions_{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.{fmt}"


async def _export(request: web.Request, fmt: ExportFormat) -> web.StreamResponse:
    context = request.app[CONTEXT_KEY]
    store, now = context.transactions, context.controller.clock.now()
    exporter: Exporter = store.export_json if fmt == "json" else store.export_csv
    tz = ZoneInfo(context.controller.profile.system.timezone)
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: f"{CONTENT_TYPES[fmt]}; charset=utf-8",
            hdrs.CONTENT_DISPOSITION: f'attachment; filename="{export_file_name(fmt, now)}"',
            hdrs.CACHE_CONTROL: "no-store",
        }
    )
    await response.prepare(request)
    sink = ResponseSink(response, asyncio.get_running_loop())
    try:
        rows = await asyncio.to_thread(_write_all, exporter, sink, now, tz)
    except (ConnectionError, TimeoutError, PersistenceError) as error:
        log.warning("transaction export (%s) aborted: %s", fmt, error)
        response.force_close()
        return response
    finally:
        sink.aborted = True  # a cancelled handler must not leave the thread writing
    log.info("exported %d transactions as %s", rows, fmt)
    await response.write_eof()
    return response


def _write_all(exporter: Exporter, sink: ResponseSink, now: datetime, tz: tzinfo) -> int:
    buffered = io.BufferedWriter(sink, buffer_size=CHUNK_BYTES)
    with io.TextIOWrapper(buffered, encoding="utf-8", newline="") as stream:
        return exporter(stream, now, tz)


class ResponseSink(io.RawIOBase):
    """A binary file whose writes (from a worker thread) go into a StreamResponse on the loop."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._response = response
        self._loop = loop
        self.aborted = False
        self._failure: BaseException | None = None

    def writable(self) -> bool:
        """Yes."""
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        """Send `data`, waiting until the response has taken it (back-pressure)."""
        if self.aborted:
            cause = f" ({self._failure!r})" if self._failure is not None else ""
            raise ConnectionError(f"the download was abandoned{cause}")
        chunk = bytes(data)
        future = asyncio.run_coroutine_threadsafe(self._response.write(chunk), self._loop)
        try:
            future.result(timeout=WRITE_TIMEOUT_S)
        except BaseException as error:
            self.aborted, self._failure = True, error
            future.cancel()
            raise
        return len(chunk)
