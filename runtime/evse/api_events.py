"""Event routes of the evse local API: the live WebSocket stream and the persistent event log.

`GET /events` sends every EventHub event as one JSON text frame. A client may send
`{"type": "hello", "role": "ocpp"}`; the stream of an OCPP client is what lets the CsmsBridge
relay Authorize requests, and its closing takes the backoffice offline at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from runtime.evse.api_common import (
    BRIDGE_KEY,
    CONTEXT_KEY,
    SOCKETS_KEY,
    json_answer,
    parse_query,
)
from runtime.evse.api_models import ClientHello, EventLogPage, EventLogQuery, EventRecord
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.events import Event

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0  # WebSocket ping: a vanished client is noticed within two of these
REPLY_SEQ = 0  # replies to one connection carry seq 0; hub events count from 1


class EventConnection:
    """One /events client: sends are serialised (events and replies come from two tasks)."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.role: str | None = None
        self._lock = asyncio.Lock()

    async def send(self, event: Event) -> None:
        """Send one event as a JSON text frame."""
        async with self._lock:
            await self.socket.send_str(json.dumps(event, default=str))


async def event_stream(request: web.Request) -> web.WebSocketResponse:
    """GET /events: the live event stream (WebSocket)."""
    context, bridge = request.app[CONTEXT_KEY], request.app[BRIDGE_KEY]
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    connection = EventConnection(socket)
    sockets = request.app[SOCKETS_KEY]
    try:
        # Subscribe first: every event after the handshake reaches the client.
        async with context.controller.events.subscribe() as queue:
            await socket.prepare(request)
            sockets.add(socket)
            forward = asyncio.create_task(_forward(queue, connection))
            try:
                async for message in socket:
                    if message.type is WSMsgType.TEXT:
                        await _on_message(str(message.data), connection, bridge, request)
                    elif message.type is WSMsgType.BINARY:
                        await _reply(connection, request, "error", {"error": "send JSON text"})
            finally:
                forward.cancel()
                await asyncio.gather(forward, return_exceptions=True)
    finally:
        sockets.discard(socket)
        bridge.detach(connection)
    return socket


async def _forward(queue: asyncio.Queue[Event], connection: EventConnection) -> None:
    while True:
        event = await queue.get()
        try:
            await connection.send(event)
        except ConnectionError as error:
            log.info("event stream client gone: %s", error)
            return


async def _on_message(
    text: str, connection: EventConnection, bridge: CsmsBridge, request: web.Request
) -> None:
    try:
        hello = ClientHello.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(message)'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        await _reply(connection, request, "error", {"error": f"invalid message: {problems}"})
        return
    connection.role = hello.role
    if hello.role == "ocpp":
        bridge.attach(connection)
    else:
        bridge.detach(connection)
    await _reply(connection, request, "hello", {"role": hello.role, "csms": bridge.connected})


async def _reply(
    connection: EventConnection, request: web.Request, kind: str, data: dict[str, Any]
) -> None:
    now = request.app[CONTEXT_KEY].controller.clock.now()
    event: Event = {"seq": REPLY_SEQ, "type": kind, "at": now.isoformat(), "data": data}
    try:
        await connection.send(event)
    except ConnectionError as error:
        log.info("event stream client gone before a reply: %s", error)


async def close_event_streams(app: web.Application) -> None:
    """on_shutdown: close every open stream so the server can stop at once."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS_KEY]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"evse service stopping")


async def event_log(request: web.Request) -> web.Response:
    """GET /events/log?limit=N&source=S: the newest persistent events, newest first."""
    query = parse_query(request, EventLogQuery)
    log_store = request.app[CONTEXT_KEY].event_log
    events = await asyncio.to_thread(log_store.recent, query.limit, query.source)
    return json_answer(
        EventLogPage(
            events=tuple(
                EventRecord(
                    id=event.id,
                    at=event.at,
                    source=event.source,
                    level=str(event.level),
                    code=event.code,
                    message=event.message,
                    data=dict(event.data),
                )
                for event in events
            )
        )
    )
