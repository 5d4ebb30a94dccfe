"""General Information (read-only, both logins): who the charger is and how it is doing.

The EVSE values come from the evse service and refresh live over `/api/live`; values whose
service does not exist yet (CSMS connection, VPN) say "not available".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import socket
import subprocess
import time
import zoneinfo
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.evse.client import EvseUnavailable
from runtime.evse.status import EvseStatus
from webui.context import STATE_KEY
from webui.pages.common import NOT_AVAILABLE, evse_client, evse_status
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role

log = logging.getLogger(__name__)

LIVE_PERIOD_S = 1.0
ADDRESSES_TTL_S = 10.0  # `ip` is a process start: not on every page view
LIVE_MAX_S = 3600.0  # a forgotten tab stops after an hour; reloading resumes


def evse_view(status: EvseStatus | None) -> dict[str, str]:
    """The live EVSE values as the page shows them."""
    if status is None:
        return {
            key: NOT_AVAILABLE
            for key in (
                "state",
                "led",
                "temperature",
                "throttling",
                "current",
                "energy",
                "transaction",
                "faults",
                "warnings",
            )
        }
    transaction = status.transaction
    return {
        "state": status.state.replace("_", " "),
        "led": status.led.replace("_", " "),
        "temperature": f"{status.temperature_c:.0f} °C"
        if status.temperature_c is not None
        else NOT_AVAILABLE,
        "throttling": f"{status.power_throttling_pct:.0f} %",
        "current": f"{status.offered_current_a:.1f} A",
        "energy": f"{status.meter.energy_kwh:.3f} kWh" if status.meter else NOT_AVAILABLE,
        "transaction": (
            f"#{transaction.number} ({transaction.energy_used_kwh:.3f} kWh)"
            if transaction is not None
            else "none"
        ),
        "faults": "; ".join(fault.description for fault in status.faults) or "none",
        "warnings": "; ".join(warning.description for warning in status.warnings) or "none",
    }


def _uptime() -> str:
    with contextlib.suppress(OSError, ValueError):
        seconds = int(float(Path("/proc/uptime").read_text().split()[0]))
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return NOT_AVAILABLE


def _system_temperature() -> str:
    with contextlib.suppress(OSError, ValueError):
        milli = int(Path("/sys/class/thermal/thermal_zone0/temp").read_text())
        return f"{milli / 1000:.0f} °C"
    return NOT_AVAILABLE


@functools.lru_cache(maxsize=1)
def _addresses_at(_minute_slot: int) -> str:
    return _addresses_now()


def _addresses() -> str:
    """The host's IPv4 addresses, asked of `ip` at most every ADDRESSES_TTL_S."""
    return _addresses_at(int(time.monotonic() / ADDRESSES_TTL_S))


def _addresses_now() -> str:
    try:
        result = subprocess.run(
            ["ip", "-j", "-4", "addr", "show"],
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
        interfaces = json.loads(result.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return NOT_AVAILABLE
    found = [
        info["local"]
        for interface in interfaces
        if interface.get("ifname") != "lo"
        for info in interface.get("addr_info", [])
    ]
    return ", ".join(found) or "none"


async def general(request: web.Request) -> web.Response:
    """GET /general."""
    require_role(request, Role.INSTALLER, Role.EV)
    state = request.app[STATE_KEY]
    profile = state.store.profile
    try:
        identity = await asyncio.to_thread(load_device_secrets, state.settings.data_dir)
        charger_identity = profile.csms.identity or identity.charger_identity
    except DeviceSecretsError:
        charger_identity = NOT_AVAILABLE
    zone = zoneinfo.ZoneInfo(profile.system.timezone)
    now = dt.datetime.now(zone)
    info = {
        "Charger Vendor": profile.station.vendor,
        "Charger Model": profile.station.model,
        "Charger Identity": charger_identity,
        "System version": state.settings.version,
        "CSMS connection status": NOT_AVAILABLE,
        "System Temperature": await asyncio.to_thread(_system_temperature),
        "System Uptime": _uptime(),
        "System Time": f"{now:%d/%m/%Y %H:%M:%S} ({now.tzname()}, {profile.system.timezone})",
        "System IP Address": await asyncio.to_thread(_addresses),
        "Hostname": profile.network.hostname or socket.gethostname(),
        "VPN IP": NOT_AVAILABLE,
    }
    return render(request, "general.html", info=info, evse=evse_view(await evse_status(request)))


async def live(request: web.Request) -> web.WebSocketResponse:
    """GET /api/live (WebSocket): the EVSE values at once on every evse event, else each second."""
    session = require_role(request, Role.INSTALLER, Role.EV)
    sessions = request.app[STATE_KEY].sessions
    socket_ = web.WebSocketResponse(heartbeat=30)
    await socket_.prepare(request)
    changed = asyncio.Event()
    receiving = asyncio.create_task(_drain(socket_))
    following = asyncio.create_task(_follow_evse_events(request, changed))
    try:
        for _ in range(int(LIVE_MAX_S / LIVE_PERIOD_S)):
            if socket_.closed or receiving.done() or not sessions.is_live(session):
                break
            status = await evse_status(request)
            payload: dict[str, Any] = {"evse": evse_view(status)}
            if status is not None:
                payload["raw"] = status.model_dump(mode="json")
            await socket_.send_json(payload)
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), LIVE_PERIOD_S)
    except ConnectionResetError:
        log.info("live view closed by the browser")
    finally:
        receiving.cancel()
        following.cancel()
        await socket_.close()
    return socket_


async def _follow_evse_events(request: web.Request, changed: asyncio.Event) -> None:
    """Wake the live view on every evse event (state, fault, card, transaction)."""
    for _ in range(int(LIVE_MAX_S / LIVE_PERIOD_S)):
        try:
            async with evse_client(request) as client:
                async for _event in client.events():
                    changed.set()
        except (EvseUnavailable, TimeoutError, ConnectionError) as error:
            log.debug("evse events not available: %s", error)
        await asyncio.sleep(LIVE_PERIOD_S)


async def _drain(socket_: web.WebSocketResponse) -> None:
    async for message in socket_:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return


ROUTES = (("GET", "/general", general), ("GET", "/api/live", live))
