"""Monitor (SCC, both logins): the OCPP websocket log and the error log (downloadable).

The error log is the faults and warnings of the evse service's persistent event log, in the
evse's own words, which are the manual's lines ("EVSE 1: FAULTED. OCPP error code: GroundFailure.
Vendor error code: RCM_DC_6MA."); the page refreshes them from /monitor/errors.json. The
websocket log belongs to the OCPP client (`scc`), not part of this version: the page says so.
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

SHOWN = 200  # error lines on the page
FETCHED = 500  # newest events read for the page; the error lines among them are shown
DOWNLOADED = 1000  # the evse API's largest page
ERROR_LEVELS = frozenset({"warning", "error", "critical"})
STAMP = "%y/%m/%d, %H:%M:%S"  # as the manual's log: [22/03/10, 18:01:25]
WEBSOCKET_LOG = f"{NOT_AVAILABLE}: the OCPP client is not installed yet"
ERRORS_UNAVAILABLE = f"{NOT_AVAILABLE}: the charging controller does not answer"
REFRESH_S = 5


def is_error(event: EventRecord) -> bool:
    """Faults (raised or cleared) and anything logged as a warning or worse."""
    return "ocpp_error_code" in event.data or event.level in ERROR_LEVELS


def log_line(event: EventRecord, zone: zoneinfo.ZoneInfo) -> str:
    """One event as a line of the log; the evse words its own lines as the manual does."""
    stamp = event.at.astimezone(zone).strftime(STAMP)
    text = event.message or event.code
    return f"[{stamp}] {text}" if event.source == "evse" else f"[{stamp}] {event.source}: {text}"


async def log_lines(
    request: web.Request, fetched: int, *, errors_only: bool = True
) -> list[str] | None:
    """Lines of the newest `fetched` events, newest first; None when the evse does not answer."""
    zone = zoneinfo.ZoneInfo(request.app[STATE_KEY].store.profile.system.timezone)
    try:
        async with evse_client(request) as client:
            events = await client.event_log(limit=fetched)
    except (EvseUnavailable, TimeoutError, EvseApiError) as error:
        log.info("event log not available: %s", error)
        return None
    return [log_line(e, zone) for e in events if is_error(e) or not errors_only]


async def monitor(request: web.Request) -> web.Response:
    """GET /monitor."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await log_lines(request, FETCHED)
    return render(
        request,
        "monitor.html",
        websocket_log=WEBSOCKET_LOG,
        errors=lines[:SHOWN] if lines is not None else None,
        errors_unavailable=ERRORS_UNAVAILABLE,
        refresh_s=REFRESH_S,
        download_failed=request.query.get("download") == "unavailable",
    )


async def errors_json(request: web.Request) -> web.Response:
    """GET /monitor/errors.json: the error log for the page's live refresh."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await log_lines(request, FETCHED)
    body: dict[str, Any] = {
        "available": lines is not None,
        "lines": (lines or [])[:SHOWN],
        "message": ERRORS_UNAVAILABLE if lines is None else "",
    }
    return web.json_response(body)


async def errors_download(request: web.Request) -> web.Response:
    """GET /monitor/error-log.txt: "Download Error Log", oldest line first."""
    require_role(request, Role.INSTALLER, Role.EV)
    lines = await log_lines(request, DOWNLOADED)
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
