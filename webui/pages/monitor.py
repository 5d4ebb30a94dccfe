"""Monitor (SCC, both logins): the OCPP websocket log and the error log, each downloadable.

The error log is the evse service's persistent event log; fault events read as the manual's
lines ("EVSE 1: FAULTED. OCPP error code: GroundFailure. Vendor error code: RCM_DC_6MA") and the
page refreshes them from /monitor/errors.json. The websocket log belongs to the OCPP client
(`scc`), which is not part of this version: the page says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from aiohttp import hdrs, web

from runtime.evse.api_models import EventRecord
from runtime.evse.client import EvseApiError, EvseUnavailable
from webui.context import STATE_KEY
from webui.pages.common import NOT_AVAILABLE, evse_client
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role

log = logging.getLogger(__name__)

SHOWN = 200  # lines on the page; the download has up to DOWNLOADED
DOWNLOADED = 1000  # the evse API's largest page
STAMP = "%y/%m/%d, %H:%M:%S"  # as the manual's log: [22/03/10, 18:01:25]
WEBSOCKET_LOG = f"{NOT_AVAILABLE}: the OCPP client is not installed yet"
ERRORS_UNAVAILABLE = f"{NOT_AVAILABLE}: the charging controller does not answer"
REFRESH_S = 5


def error_line(event: EventRecord, zone: zoneinfo.ZoneInfo) -> str:
    """One event as a line of the error log."""
    stamp = event.at.astimezone(zone).strftime(STAMP)
    return f"[{stamp}] {_text(event)}"


def _text(event: EventRecord) -> str:
    data = event.data
    if "ocpp_error_code" not in data:
        return f"{event.source}: {event.message or event.code}"
    evse = f"EVSE {data.get('evse_id', 1)}"
    vendor_id = f" Vendor ID: {data['vendor_id']}." if data.get("vendor_id") else ""
    vendor_code = data.get("vendor_error_code") or ""
    if data.get("raised", True):
        return (
            f"{evse}: FAULTED. OCPP error code: {data['ocpp_error_code']}.{vendor_id}"
            f" Vendor error code: {vendor_code}"
        )
    return (
        f"{evse}: NOT FAULTED. OCPP error code: NoError.{vendor_id}"
        f" Cleared: {data['ocpp_error_code']} (vendor error code {vendor_code or 'none'})"
    )


async def error_lines(request: web.Request, limit: int) -> list[str] | None:
    """The newest `limit` error log lines, newest first; None when the evse does not answer."""
    zone = zoneinfo.ZoneInfo(request.app[STATE_KEY].store.profile.system.timezone)
    try:
        async with evse_client(request) as client:
            events = await client.event_log(limit=limit)
    except (EvseUnavailable, TimeoutError, EvseApiError) as error:
        log.info("error log not available: %s", error)
        return None
    return [error_line(event, zone) for event in events]


async def monitor(request: web.Request) -> web.Response:
    """GET /monitor."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await error_lines(request, SHOWN)
    return render(
        request,
        "monitor.html",
        websocket_log=WEBSOCKET_LOG,
        errors=lines,
        errors_unavailable=ERRORS_UNAVAILABLE,
        refresh_s=REFRESH_S,
        download_failed=request.query.get("download") == "unavailable",
    )


async def errors_json(request: web.Request) -> web.Response:
    """GET /monitor/errors.json: the error log for the page's live refresh."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await error_lines(request, SHOWN)
    body: dict[str, Any] = {
        "available": lines is not None,
        "lines": lines or [],
        "message": ERRORS_UNAVAILABLE if lines is None else "",
    }
    return web.json_response(body)


async def errors_download(request: web.Request) -> web.Response:
    """GET /monitor/error-log.txt: "Download Error Log", oldest line first."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await error_lines(request, DOWNLOADED)
    if lines is None:
        raise web.HTTPSeeOther("/monitor?download=unavailable")
    now = dt.datetime.now(dt.UTC)
    name = f"error-log_{now:%Y%m%dT%H%M%SZ}.txt"
    text = "".join(f"{line}\n" for line in reversed(lines))
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={hdrs.CONTENT_DISPOSITION: f'attachment; filename="{name}"'},
    )


ROUTES = (
    ("GET", "/monitor", monitor),
    ("GET", "/monitor/errors.json", errors_json),
    ("GET", "/monitor/error-log.txt", errors_download),
)
