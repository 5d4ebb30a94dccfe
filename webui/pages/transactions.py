"""Transactions (both logins): the recent transactions with the manual's columns, and the full
history as JSON or CSV streamed through from the evse service under the name it gives.

Rows come only from the evse service; when it does not answer the page says so (no rows) and a
download sends the browser back to the page with that message.
Times are shown in the profile's time zone.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import hdrs, web

from runtime.evse.api_models import ExportFormat, TransactionRow
from runtime.evse.client import EvseApiError, EvseUnavailable
from runtime.evse.status import EvseStatus
from webui.context import STATE_KEY
from webui.pages.common import NOT_AVAILABLE, evse_client, evse_status
from webui.rendering import render
from webui.roles import Role
from webui.security import HEADERS, require_role

log = logging.getLogger(__name__)

RECENT = 50
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"  # as the manual's table: 08/03/2022 05:30:47
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class RowView:
    """One transaction as the table shows it."""

    row: TransactionRow
    zone: zoneinfo.ZoneInfo
    now: dt.datetime
    live: EvseStatus | None  # for the open transaction's "End/Now" energy

    def local(self, moment: dt.datetime) -> str:
        """A time in the profile's zone."""
        return moment.astimezone(self.zone).strftime(TIME_FORMAT)

    @property
    def live_energy(self) -> tuple[float, float] | None:
        """Meter now and energy used so far, when this is the evse's open transaction."""
        live = self.live
        if live is None or live.transaction is None or live.meter is None:
            return None
        if live.transaction.transaction_id != self.row.transaction_id:
            return None
        return live.meter.energy_kwh, live.transaction.energy_used_kwh


def _kwh(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _end(view: RowView) -> str:
    ended = view.row.ended_at
    return view.local(ended) if ended is not None else f"{view.local(view.now)} (now)"


def _energy_end(view: RowView) -> str:
    if view.row.meter_stop_kwh is not None:
        return _kwh(view.row.meter_stop_kwh)
    live = view.live_energy
    return _kwh(live[0]) if live else ""


def _energy_used(view: RowView) -> str:
    if view.row.energy_used_kwh is not None:
        return _kwh(view.row.energy_used_kwh)
    live = view.live_energy
    return _kwh(live[1]) if live else ""


def _status(view: RowView) -> str:
    row = view.row
    return f"{row.status} ({row.stop_reason})" if row.stop_reason else row.status


Column = tuple[str, Callable[[RowView], str]]
COLUMNS: tuple[Column, ...] = (
    ("TX No", lambda v: str(v.row.number)),
    ("TX ID", lambda v: str(v.row.transaction_id)),
    ("Time Start", lambda v: v.local(v.row.started_at)),
    ("Time End/Now", _end),
    ("Duration", lambda v: _hms(v.row.duration_s)),
    ("NRG Start [kWh]", lambda v: _kwh(v.row.meter_start_kwh)),
    ("NRG End/Now [kWh]", _energy_end),
    ("NRG Used [kWh]", _energy_used),
    ("NRG Avg [kW]", lambda v: _kwh(v.row.average_power_kw)),
    ("RFID Tag", lambda v: v.row.id_tag),
    ("EVSE", lambda v: str(v.row.evse_id)),
    ("TX Status", _status),
)


async def _recent(request: web.Request) -> tuple[TransactionRow, ...] | None:
    try:
        async with evse_client(request) as client:
            return await client.transactions(limit=RECENT)
    except (EvseUnavailable, TimeoutError, EvseApiError) as error:
        log.info("transactions not available: %s", error)
        return None


async def transactions(request: web.Request) -> web.Response:
    """GET /transactions."""
    require_role(request, Role.INSTALLER, Role.EV)
    zone = zoneinfo.ZoneInfo(request.app[STATE_KEY].store.profile.system.timezone)
    rows = await _recent(request)
    table: list[list[str]] | None = None
    if rows is not None:
        live = await evse_status(request) if any(r.status == "active" for r in rows) else None
        now = dt.datetime.now(dt.UTC)
        views = [RowView(row, zone, now, live) for row in rows]
        table = [[value(view) for _, value in COLUMNS] for view in views]
    return render(
        request,
        "transactions.html",
        headings=[label for label, _ in COLUMNS],
        table=table,
        not_available=NOT_AVAILABLE,
        zone=zone.key,
        download_failed=request.query.get("download") == "unavailable",
    )


def download_response(filename: str, content_type: str) -> web.StreamResponse:
    """A streamed attachment with the security headers (the middleware cannot add them later)."""
    response = web.StreamResponse(headers={**HEADERS, hdrs.CACHE_CONTROL: "no-store"})
    response.headers[hdrs.CONTENT_DISPOSITION] = f'attachment; filename="{filename}"'
    response.content_type = content_type
    return response


async def _export(request: web.Request, fmt: ExportFormat) -> web.StreamResponse:
    require_role(request, Role.INSTALLER, Role.EV)
    response: web.StreamResponse | None = None
    try:
        async with evse_client(request) as client, client.export_transactions(fmt) as export:
            name = export.filename if SAFE_NAME.match(export.filename) else f"transactions.{fmt}"
            response = download_response(name, export.content_type)
            response.charset = export.response.charset or "utf-8"
            await response.prepare(request)
            async for chunk in export.chunks():
                await response.write(chunk)
    except (EvseUnavailable, TimeoutError, EvseApiError) as error:
        if response is not None and response.prepared:
            log.error("transaction export broke off: %s", error)
            raise  # the browser sees an incomplete download, never a short "complete" file
        log.info("transaction export not available: %s", error)
        raise web.HTTPSeeOther("/transactions?download=unavailable") from None
    await response.write_eof()
    return response


async def export_json(request: web.Request) -> web.StreamResponse:
    """GET /transactions/export.json: the full history as the evse writes it."""
    return await _export(request, "json")


async def export_csv(request: web.Request) -> web.StreamResponse:
    """GET /transactions/export.csv: the full history as the evse writes it."""
    return await _export(request, "csv")


ROUTES = (
    ("GET", "/transactions", transactions),
    ("GET", "/transactions/export.json", export_json),
    ("GET", "/transactions/export.csv", export_csv),
)
