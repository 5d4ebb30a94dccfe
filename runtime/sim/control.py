"""The simulation's control API: JSON over HTTP on a Unix socket, for the CLI and tests.

`POST` a command (plug, unplug, card, full, fault, clear, power-cycle, temperature,
site-load), `GET /status` for everything, including the evse service's own view when its
API socket answers. Bodies are validated with `runtime.sim.api_models`; errors are 400/409.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from runtime.sim.api_models import (
    CardRequest,
    EvseView,
    FaultRequest,
    PlugRequest,
    Reply,
    SiteLoadRequest,
    TemperatureRequest,
)
from runtime.sim.rig import SimConflict, SimRig

log = logging.getLogger(__name__)

EVSE_TIMEOUT_S = 1.0
M = TypeVar("M", bound=BaseModel)


class CardHolder:
    """Holds one card in the reader's field and takes it away after its hold time."""

    def __init__(self, rig: SimRig) -> None:
        self.rig = rig
        self._removal: asyncio.Task[None] | None = None

    def present(self, uid: str, hold_s: float) -> None:
        """The card enters the field now (replacing any card held) and leaves after `hold_s`."""
        self.cancel()
        self.rig.chips.rfid.present_card(uid)
        self._removal = asyncio.create_task(self._remove_after(hold_s))

    def cancel(self) -> None:
        """Forget a pending removal (the card stays until another is presented)."""
        if self._removal is not None:
            self._removal.cancel()
            self._removal = None

    async def _remove_after(self, hold_s: float) -> None:
        await asyncio.sleep(hold_s)
        self.rig.chips.rfid.remove_card()
        self._removal = None


RIG = web.AppKey("rig", SimRig)
EVSE_SOCKET = web.AppKey("evse_socket", Path)
CARD_HOLDER = web.AppKey("card_holder", CardHolder)


async def evse_view(socket_path: Path, timeout_s: float = EVSE_TIMEOUT_S) -> EvseView | str:
    """The evse service's `GET /status` over its Unix socket, or why there is none."""
    if not socket_path.exists():
        return "not running"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        connector = aiohttp.UnixConnector(path=str(socket_path))
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get("http://evse/status") as response,
        ):
            if response.status != 200:
                return f"status answered HTTP {response.status}"
            return EvseView.model_validate(await response.json(content_type=None))
    except (aiohttp.ClientError, TimeoutError, OSError):
        return "not running"
    except (ValueError, ValidationError) as error:
        log.warning("evse GET /status on %s: unexpected answer: %s", socket_path, error)
        return "unexpected status answer"


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`; a 400 naming every problem otherwise."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: "
            + error["msg"].removeprefix("Value error, ")
            for error in invalid.errors()
        )
        raise _bad_request(f"{request.path}: {problems}") from None


def _reply(message: str) -> web.Response:
    log.info("%s", message)  # what the developer did to the simulated hardware, in its log
    return web.json_response(Reply(message=message).model_dump())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _conflicts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`SimConflict` → 409 with the reason."""
    try:
        return await handler(request)
    except SimConflict as conflict:
        raise web.HTTPConflict(
            text=json.dumps({"error": str(conflict)}), content_type="application/json"
        ) from None


async def plug(request: web.Request) -> web.Response:
    """POST /plug {capacity_kwh?, phases?, max_current_a?, ventilation?}."""
    body = await _body(request, PlugRequest)
    return _reply(request.app[RIG].plug(body))


async def unplug(request: web.Request) -> web.Response:
    """POST /unplug."""
    return _reply(request.app[RIG].unplug())


async def card(request: web.Request) -> web.Response:
    """POST /card {uid, hold_s=1.0}: the card is in the field now, gone after hold_s."""
    body = await _body(request, CardRequest)
    request.app[CARD_HOLDER].present(body.uid, body.hold_s)
    return _reply(f"card {body.uid} held at the reader for {body.hold_s:g} s")


async def full(request: web.Request) -> web.Response:
    """POST /full."""
    return _reply(request.app[RIG].fill())


async def fault(request: web.Request) -> web.Response:
    """POST /fault {kind}."""
    body = await _body(request, FaultRequest)
    return _reply(request.app[RIG].inject(body.kind))


async def clear(request: web.Request) -> web.Response:
    """POST /clear."""
    return _reply(request.app[RIG].clear())


async def power_cycle(request: web.Request) -> web.Response:
    """POST /power-cycle."""
    return _reply(request.app[RIG].power_cycle())


async def temperature(request: web.Request) -> web.Response:
    """POST /temperature {celsius}."""
    body = await _body(request, TemperatureRequest)
    return _reply(request.app[RIG].set_temperature(body.celsius))


async def site_load(request: web.Request) -> web.Response:
    """POST /site-load {currents_a: [l1, l2, l3]}."""
    body = await _body(request, SiteLoadRequest)
    return _reply(request.app[RIG].set_site_load(body.currents_a))


async def status(request: web.Request) -> web.Response:
    """GET /status: the simulation, plus the evse service's view if it answers."""
    snapshot = request.app[RIG].status()
    view = await evse_view(request.app[EVSE_SOCKET])
    if isinstance(view, EvseView):
        snapshot = snapshot.model_copy(update={"evse": view})
    else:
        snapshot = snapshot.model_copy(update={"evse_error": view})
    return web.json_response(text=snapshot.model_dump_json())


async def _card_holder(app: web.Application) -> AsyncIterator[None]:
    app[CARD_HOLDER] = CardHolder(app[RIG])
    yield
    app[CARD_HOLDER].cancel()


def create_app(rig: SimRig, evse_socket: Path) -> web.Application:
    """The control API over `rig`; `evse_socket` is where the evse service's API listens."""
    app = web.Application(middlewares=[_conflicts])
    app[RIG] = rig
    app[EVSE_SOCKET] = evse_socket
    app.cleanup_ctx.append(_card_holder)
    app.add_routes(
        [
            web.post("/plug", plug),
            web.post("/unplug", unplug),
            web.post("/card", card),
            web.post("/full", full),
            web.post("/fault", fault),
            web.post("/clear", clear),
            web.post("/power-cycle", power_cycle),
            web.post("/temperature", temperature),
            web.post("/site-load", site_load),
            web.get("/status", status),
        ]
    )
    return app
