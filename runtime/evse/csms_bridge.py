"""The backoffice as the evse service sees it: Authorize requests relayed to the OCPP service.

`CsmsBridge.authorize()` publishes an `authorize_request` event on the EventHub and waits for
the OCPP service to POST the CSMS's answer back (`resolve`). The bridge is connected only while
an OCPP client holds an open event stream AND has declared the backoffice online; when either
ends, waiting requests fail with ConnectionError so the Authorizer decides offline at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from runtime.evse.events import EventHub
from runtime.persistence.auth_cache import AuthorizationStatus

log = logging.getLogger(__name__)

AUTHORIZE_REQUEST = "authorize_request"
CSMS_STATE = "csms_state"

Answer = tuple[AuthorizationStatus, datetime | None]


class CsmsBridge:
    """Implements runtime.evse.authorization.CsmsAuthorizer over the local API."""

    def __init__(self, events: EventHub) -> None:
        self._events = events
        self._online = False
        self._clients: set[object] = set()
        self._pending: dict[str, asyncio.Future[Answer]] = {}

    @property
    def connected(self) -> bool:
        """An OCPP client listens and has declared the backoffice online."""
        return self._online and bool(self._clients)

    @property
    def pending_count(self) -> int:
        """Authorize requests waiting for the backoffice's answer."""
        return len(self._pending)

    def available(self) -> CsmsBridge | None:
        """The bridge while connected, else None (pass as `Authorizer(csms=bridge.available)`)."""
        return self if self.connected else None

    async def authorize(self, id_tag: str) -> Answer:
        """Ask the backoffice about `id_tag`; ConnectionError when it is (or goes) unreachable."""
        if not self.connected:
            raise ConnectionError("no OCPP client with an online backoffice")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._events.publish(AUTHORIZE_REQUEST, {"request_id": request_id, "id_tag": id_tag})
            return await future
        finally:  # answered, failed, or cancelled by the Authorizer's timeout
            self._pending.pop(request_id, None)

    def resolve(
        self, request_id: str, status: AuthorizationStatus, expiry: datetime | None
    ) -> bool:
        """Hand the backoffice's answer to the waiting request; False if none waits for it."""
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            log.warning("answer for Authorize request %s, which nobody waits for", request_id)
            return False
        future.set_result((AuthorizationStatus(status), expiry))
        return True

    def set_online(self, online: bool) -> None:
        """The OCPP service reports whether its backoffice connection is up."""
        if online == self._online:
            return
        self._online = online
        log.info("backoffice %s", "online" if online else "offline")
        self._announce()
        if not online:
            self._fail_pending("the OCPP service reported the backoffice offline")

    def attach(self, client: object) -> None:
        """An OCPP client opened its event stream."""
        was = self.connected
        self._clients.add(client)
        if self.connected != was:
            self._announce()

    def detach(self, client: object) -> None:
        """An OCPP client's event stream closed; the last one takes the backoffice with it."""
        if client not in self._clients:
            return
        was = self.connected
        self._clients.discard(client)
        if self._clients:
            return
        self._online = False  # a new OCPP client declares the backoffice again
        if was:
            self._announce()
        self._fail_pending("the OCPP service's event stream closed")

    def _announce(self) -> None:
        self._events.publish(CSMS_STATE, {"connected": self.connected})

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for request_id, future in pending.items():
            if not future.done():
                log.warning("Authorize request %s abandoned: %s", request_id, why)
                future.set_exception(ConnectionError(why))
