"""Async client of the evse local API: what the OCPP service, the web UI and `sim status` use.

One method per route, answers parsed into the API's pydantic models. When the evse service does
not run, every call raises EvseUnavailable naming the socket; an error answer raises
EvseApiError with the service's message and the request fields it names.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from runtime.evse.api_models import (
    UPDATING_LIFETIME_S,
    AuthorizeResult,
    Availability,
    ClearFaults,
    ClientHello,
    CommandAnswer,
    CommandStatus,
    CsmsState,
    CsmsStateAnswer,
    CurrentLimit,
    ErrorAnswer,
    EventLogPage,
    EventLogQuery,
    EventRecord,
    EvseEvent,
    ExportFormat,
    FieldError,
    RemoteStart,
    RemoteStop,
    Reset,
    Role,
    TransactionList,
    TransactionRow,
    TransactionsQuery,
    Updating,
)
from runtime.evse.status import EvseStatus
from runtime.persistence.auth_cache import AuthorizationStatus

log = logging.getLogger(__name__)

BASE_URL = "http://evse"  # the host is ignored on a Unix socket
DEFAULT_TIMEOUT_S = 10.0
HELLO_TIMEOUT_S = 5.0
EXPORT_CHUNK_BYTES = 64 * 1024
# A download of a long history may take long; only a stall is an error.
EXPORT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=DEFAULT_TIMEOUT_S, sock_read=60.0)

M = TypeVar("M", bound=BaseModel)


class EvseUnavailable(ConnectionError):
    """The evse service does not answer on its socket."""

    def __init__(self, socket_path: Path, reason: str) -> None:
        super().__init__(
            f"evse service not reachable on {socket_path}: {reason}; "
            "is it running? (supervisorctl status evse)"
        )
        self.socket_path = socket_path


class EvseApiError(Exception):
    """The evse service refused a request (HTTP 4xx/5xx)."""

    def __init__(self, status: int, error: str, fields: tuple[FieldError, ...] = ()) -> None:
        super().__init__(f"evse API {status}: {error}")
        self.status = status
        self.error = error
        self.fields = fields

    @property
    def field_names(self) -> tuple[str, ...]:
        """The request fields the service named as wrong."""
        return tuple(field.field for field in self.fields)


@dataclass(frozen=True)
class Export:
    """A transaction history download in progress."""

    filename: str
    content_type: str
    response: aiohttp.ClientResponse

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive."""
        async for chunk in self.response.content.iter_chunked(EXPORT_CHUNK_BYTES):
            yield chunk


class EvseClient:
    """The evse local API over its Unix socket; use `async with EvseClient(path) as evse:`."""

    def __init__(self, socket_path: Path | str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.socket_path = Path(socket_path)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EvseClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----- reading --------------------------------------------------------------------------
    async def status(self) -> EvseStatus:
        """GET /status."""
        return await self._call("GET", "/status", EvseStatus)

    async def transactions(self, limit: int = 50) -> tuple[TransactionRow, ...]:
        """GET /transactions: the newest `limit` transactions, newest first."""
        query = TransactionsQuery(limit=limit)
        page = await self._call("GET", "/transactions", TransactionList, params=query)
        return page.transactions

    async def transaction(self, transaction_id: int) -> TransactionRow:
        """GET /transactions/{id}; EvseApiError 404 when there is none."""
        return await self._call("GET", f"/transactions/{int(transaction_id)}", TransactionRow)

    async def event_log(
        self, limit: int = 100, source: str | None = None
    ) -> tuple[EventRecord, ...]:
        """GET /events/log: the newest persistent events, newest first."""
        query = EventLogQuery(limit=limit, source=source)
        page = await self._call("GET", "/events/log", EventLogPage, params=query)
        return page.events

    @asynccontextmanager
    async def export_transactions(self, fmt: ExportFormat) -> AsyncIterator[Export]:
        """GET /transactions/export.{json,csv}: the full history, streamed."""
        path = f"/transactions/export.{fmt}"
        async with self._request("GET", path, timeout=EXPORT_TIMEOUT) as response:
            await _raise_for_error(response)
            disposition = response.content_disposition
            filename = disposition.filename if disposition and disposition.filename else ""
            yield Export(filename, response.content_type, response)

    # ----- commands -------------------------------------------------------------------------
    async def remote_start(self, id_tag: str) -> CommandStatus:
        """POST /remote-start."""
        return await self._command("/remote-start", RemoteStart(id_tag=id_tag))

    async def remote_stop(self, transaction_id: int) -> CommandStatus:
        """POST /remote-stop."""
        return await self._command("/remote-stop", RemoteStop(transaction_id=transaction_id))

    async def change_availability(self, operative: bool) -> CommandStatus:
        """POST /availability."""
        return await self._command("/availability", Availability(operative=operative))

    async def set_current_limit(
        self,
        current_a: float | None,
        *,
        expires_at: datetime | None = None,
        duration_s: float | None = None,
    ) -> CommandStatus:
        """POST /current-limit: an external limit until `expires_at` or for `duration_s`."""
        body = CurrentLimit.model_validate(
            {"current_a": current_a, "expires_at": expires_at, "duration_s": duration_s},
            strict=False,
        )
        return await self._command("/current-limit", body)

    async def reset(self, kind: Literal["soft", "hard"] = "soft") -> CommandStatus:
        """POST /reset: the service ends the session and restarts."""
        return await self._command("/reset", Reset(kind=kind))

    async def unlock(self) -> CommandStatus:
        """POST /unlock."""
        return await self._command("/unlock", None)

    async def set_updating(
        self, updating: bool, duration_s: float = UPDATING_LIFETIME_S
    ) -> CommandStatus:
        """POST /updating: the LED blinks blue/green for `duration_s` (renew it meanwhile)."""
        return await self._command("/updating", Updating(updating=updating, duration_s=duration_s))

    async def clear_faults(self, by: str = "local API") -> CommandStatus:
        """POST /faults/clear: clear the latched faults that may be cleared; `by` is logged."""
        return await self._command("/faults/clear", ClearFaults(by=by))

    async def calibrate_tilt(self) -> CommandStatus:
        """POST /tilt/calibrate: the next accelerometer sample becomes the rest position."""
        return await self._command("/tilt/calibrate", None)

    async def reload(self) -> CommandStatus:
        """POST /reload: apply a changed profile (restart once no session is open)."""
        return await self._command("/reload", None)

    # ----- the CSMS bridge (the OCPP service) -----------------------------------------------
    async def answer_authorize(
        self, request_id: str, status: AuthorizationStatus, expiry: datetime | None = None
    ) -> None:
        """POST /authorize/{request_id}: the backoffice's answer to an authorize_request."""
        body = AuthorizeResult(status=status, expiry=expiry)
        await self._call("POST", f"/authorize/{request_id}", CommandAnswer, body=body)

    async def set_csms_online(self, online: bool) -> bool:
        """POST /csms/state; returns whether the bridge now relays Authorize requests."""
        body = CsmsState(online=online)
        answer = await self._call("POST", "/csms/state", CsmsStateAnswer, body=body)
        return answer.connected

    # ----- events ---------------------------------------------------------------------------
    @asynccontextmanager
    async def event_stream(self, role: Role | None = None) -> AsyncIterator[EventStream]:
        """GET /events; with a role, the service has registered it when the block starts."""
        try:
            socket = await self._session_now().ws_connect(f"{BASE_URL}/events")
        except aiohttp.ClientConnectorError as error:
            raise EvseUnavailable(self.socket_path, str(error.os_error)) from error
        except aiohttp.WSServerHandshakeError as error:
            raise EvseApiError(error.status, error.message) from error
        stream = EventStream(socket, self.socket_path)
        try:
            if role is not None:
                await stream.hello(role)
            yield stream
        finally:
            await socket.close()

    async def events(self, role: Role | None = None) -> AsyncIterator[EvseEvent]:
        """Every event of the live stream, until the service closes it."""
        async with self.event_stream(role) as stream:
            async for event in stream:
                yield event

    # ----- plumbing -------------------------------------------------------------------------
    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.UnixConnector(path=str(self.socket_path))
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: BaseModel | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["data"] = body.model_dump_json(exclude_none=False)
            kwargs["headers"] = {"Content-Type": "application/json"}
        if params is not None:
            dumped = params.model_dump(exclude_none=True)
            kwargs["params"] = {key: str(value) for key, value in dumped.items()}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            async with self._session_now().request(method, BASE_URL + path, **kwargs) as response:
                yield response
        except aiohttp.ClientConnectorError as error:
            raise EvseUnavailable(self.socket_path, str(error.os_error)) from error
        except aiohttp.ServerDisconnectedError as error:
            raise EvseUnavailable(self.socket_path, "the service closed the connection") from error

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        body: BaseModel | None = None,
        params: BaseModel | None = None,
    ) -> M:
        async with self._request(method, path, body=body, params=params) as response:
            await _raise_for_error(response)
            raw = await response.read()
        try:
            return model.model_validate_json(raw)
        except ValidationError as error:
            message = f"unexpected answer to {method} {path}: {error}"
            raise EvseApiError(response.status, message) from error

    async def _command(self, path: str, body: BaseModel | None) -> CommandStatus:
        answer = await self._call("POST", path, CommandAnswer, body=body)
        return answer.status


class EventStream:
    """An open /events WebSocket: iterate for events, or `receive()` one with a timeout."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, socket_path: Path) -> None:
        self._socket = socket
        self._socket_path = socket_path
        self._backlog: deque[EvseEvent] = deque()  # events that arrived before a hello reply

    async def hello(self, role: Role) -> EvseEvent:
        """Tell the service who listens; returns its acknowledgement."""
        await self._socket.send_str(ClientHello(type="hello", role=role).model_dump_json())
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            while True:
                event = await self._receive(None)
                if event.seq == 0 and event.type in ("hello", "error"):
                    break
                self._backlog.append(event)
        if event.type == "error":
            raise EvseApiError(400, str(event.data.get("error")))
        return event

    async def receive(self, timeout_s: float | None = None) -> EvseEvent:
        """The next event; EvseUnavailable once the service closed the stream."""
        if self._backlog:
            return self._backlog.popleft()
        return await self._receive(timeout_s)

    async def _receive(self, timeout_s: float | None) -> EvseEvent:
        message = await self._socket.receive(timeout=timeout_s)
        if message.type is aiohttp.WSMsgType.TEXT:
            return EvseEvent.model_validate_json(str(message.data))
        if message.type is aiohttp.WSMsgType.ERROR:
            raise EvseUnavailable(self._socket_path, f"event stream failed: {message.data}")
        raise EvseUnavailable(self._socket_path, "the service closed the event stream")

    async def close(self) -> None:
        """Close the stream (an OCPP client's closing takes the backoffice offline)."""
        await self._socket.close()

    @property
    def closed(self) -> bool:
        """The stream is closed."""
        return self._socket.closed

    def __aiter__(self) -> AsyncIterator[EvseEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EvseEvent]:
        while True:
            try:
                event = await self.receive()
            except EvseUnavailable:
                return
            yield event


async def _raise_for_error(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    raw = await response.read()
    try:
        answer = ErrorAnswer.model_validate_json(raw)
    except ValidationError:
        raise EvseApiError(response.status, raw.decode("utf-8", "replace")[:200]) from None
    raise EvseApiError(response.status, answer.error, answer.fields)
