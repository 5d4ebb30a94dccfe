"""The evse event stream: every state change, fault, card and transaction as it happens.

Subscribers (the local API's WebSocket clients: the OCPP service, the web configurator) each
get a bounded queue; a slow subscriber loses its oldest events, never blocks the controller.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

QUEUE_SIZE = 256

Event = dict[str, Any]


class EventHub:
    """Fans events out to subscribers."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._queues: set[asyncio.Queue[Event]] = set()
        self._sequence = itertools.count(1)

    @property
    def subscriber_count(self) -> int:
        """How many subscribers listen now."""
        return len(self._queues)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send one event to every subscriber."""
        event: Event = {
            "seq": next(self._sequence),
            "type": kind,
            "at": self._now().isoformat(),
            "data": data,
        }
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue receiving every event published while the context is open."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
