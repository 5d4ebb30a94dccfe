"""The evse service's local API: aiohttp over a Unix socket, JSON requests plus a WebSocket.

The OCPP service and the web configurator use only this API (through runtime.evse.client).
Routes: status, transactions (list, one, streamed exports), commands (one table below), the
CSMS bridge (Authorize answers, backoffice state), the live event stream and the event log.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web

from runtime.evse import api_events, api_transactions
from runtime.evse.api_common import (
    BRIDGE_KEY,
    CONTEXT_KEY,
    SOCKETS_KEY,
    ApiError,
    json_answer,
    json_errors,
    parse_body,
)
from runtime.evse.api_models import (
    AuthorizeResult,
    Availability,
    Body,
    ClearFaults,
    CommandAnswer,
    CommandStatus,
    CsmsState,
    CsmsStateAnswer,
    CurrentLimit,
    NoBody,
    RemoteStart,
    RemoteStop,
    Reset,
    Updating,
)
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.service import EvseContext
from runtime.evse.snapshot import evse_status
from runtime.unix_sockets import claim_socket_path

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660  # the evse group: the other ChargeOS services
SOCKET_DIR_MODE = 0o750
MAX_BODY_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT_S = 2.0

B = TypeVar("B", bound=Body)


@dataclass(frozen=True)
class CommandRoute(Generic[B]):
    """POST `path` with a `body` runs `run` and answers {"status": <its answer>}."""

    path: str
    body: type[B]
    run: Callable[[EvseContext, B], Awaitable[CommandStatus]]


async def _set_current_limit(context: EvseContext, body: CurrentLimit) -> CommandStatus:
    return await context.commands.set_current_limit(
        body.current_a, body.expires_at, duration_s=body.duration_s
    )


def command(
    path: str, body: type[B], run: Callable[[EvseContext, B], Awaitable[CommandStatus]]
) -> CommandRoute[Any]:
    """One row of COMMANDS (typed here, so `run` is checked against its body model)."""
    return CommandRoute(path, body, run)


COMMANDS: tuple[CommandRoute[Any], ...] = (
    command("/remote-start", RemoteStart, lambda c, b: c.commands.remote_start(b.id_tag)),
    command("/remote-stop", RemoteStop, lambda c, b: c.commands.remote_stop(b.transaction_id)),
    command(
        "/availability", Availability, lambda c, b: c.commands.change_availability(b.operative)
    ),
    command("/current-limit", CurrentLimit, _set_current_limit),
    command("/reset", Reset, lambda c, b: c.commands.reset(b.kind)),
    command("/unlock", NoBody, lambda c, b: c.commands.unlock()),
    command("/updating", Updating, lambda c, b: c.commands.set_updating(b.updating, b.duration_s)),
    command("/faults/clear", ClearFaults, lambda c, b: c.commands.clear_faults(b.by)),
    command("/tilt/calibrate", NoBody, lambda c, b: c.commands.calibrate_tilt()),
    command("/reload", NoBody, lambda c, b: c.commands.reload()),
)


def _command_handler(
    route: CommandRoute[Any],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await parse_body(request, route.body)
        status = await route.run(request.app[CONTEXT_KEY], body)
        log.info("command %s %s: %s", route.path, body.model_dump_json(), status)
        return json_answer(CommandAnswer(status=status))

    return handle


async def get_status(request: web.Request) -> web.Response:
    """GET /status: the controller's status snapshot."""
    return json_answer(evse_status(request.app[CONTEXT_KEY].controller))


async def post_authorize_result(request: web.Request) -> web.Response:
    """POST /authorize/{request_id}: the backoffice's answer to an authorize_request event."""
    request_id = request.match_info["request_id"]
    body = await parse_body(request, AuthorizeResult)
    if not request.app[BRIDGE_KEY].resolve(request_id, body.status, body.expiry):
        raise ApiError(404, f"no Authorize request {request_id} waits (answered or timed out)")
    return json_answer(CommandAnswer(status="Accepted"))


async def post_csms_state(request: web.Request) -> web.Response:
    """POST /csms/state: the OCPP service's backoffice connection went up or down."""
    body = await parse_body(request, CsmsState)
    bridge = request.app[BRIDGE_KEY]
    bridge.set_online(body.online)
    return json_answer(CsmsStateAnswer(status="Accepted", connected=bridge.connected))


def create_app(context: EvseContext, bridge: CsmsBridge) -> web.Application:
    """The local API application around a running controller and its CSMS bridge."""
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[CONTEXT_KEY] = context
    app[BRIDGE_KEY] = bridge
    app[SOCKETS_KEY] = set()
    app.on_shutdown.append(api_events.close_event_streams)
    app.router.add_get("/status", get_status)
    app.router.add_get("/transactions", api_transactions.list_transactions)
    app.router.add_get("/transactions/export.json", api_transactions.export_json)
    app.router.add_get("/transactions/export.csv", api_transactions.export_csv)
    app.router.add_get(r"/transactions/{transaction_id:\d{1,10}}", api_transactions.get_transaction)
    app.router.add_get("/events", api_events.event_stream)
    app.router.add_get("/events/log", api_events.event_log)
    app.router.add_post("/authorize/{request_id}", post_authorize_result)
    app.router.add_post("/csms/state", post_csms_state)
    for route in COMMANDS:
        app.router.add_post(route.path, _command_handler(route))
    return app


async def serve_unix(app: web.Application, path: Path | str) -> web.AppRunner:
    """Serve `app` on a Unix socket (mode 0660, a stale socket file replaced); cleanup() stops."""
    path = Path(path)
    path.parent.mkdir(mode=SOCKET_DIR_MODE, parents=True, exist_ok=True)
    claim_socket_path(path, "evse service")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        path.chmod(SOCKET_MODE)  # before listen(): nobody connects with looser rights
    except OSError:
        listener.close()
        raise

    async def remove_socket(_app: web.Application) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    app.on_cleanup.append(remove_socket)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
    except BaseException:
        await runner.cleanup()
        listener.close()
        raise
    log.info("local API listening on %s", path)
    return runner
