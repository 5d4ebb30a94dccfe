"""Transactions of one EVSE: started before current flows, ended after the contactor opened.

Wraps the SQLite TransactionStore (run in a thread) with the controller's view: the active
transaction, a stop that waits for the contactor, periodic meter samples, and at service start
the closing of a transaction a crash or power cut left open (with a meter stop value).
"""

from __future__ import annotations

import asyncio
import logging
import random

from runtime.evse.clock import Clock
from runtime.evse.events import EventHub
from runtime.hardware.types import MeterReading
from runtime.persistence.errors import PersistenceError
from runtime.persistence.transaction_records import StopReason, Transaction
from runtime.persistence.transactions import TransactionStore

log = logging.getLogger(__name__)


def meter_wh(reading: MeterReading) -> int:
    """A meter reading as billing data: whole watt-hours."""
    return round(reading.energy_import_kwh * 1000)


class SessionKeeper:
    """The open transaction of one EVSE and its bookkeeping."""

    def __init__(
        self,
        store: TransactionStore,
        evse_id: int,
        clock: Clock,
        events: EventHub,
        sample_interval_s: float,
    ) -> None:
        self.store = store
        self.evse_id = evse_id
        self._clock = clock
        self._events = events
        self._sample_interval_s = sample_interval_s
        self._last_sample: float | None = None
        self._stop_reason: str | None = None
        self._rng = random.SystemRandom()
        self.active: Transaction | None = None

    @property
    def id_tag(self) -> str | None:
        """The id tag of the open transaction."""
        return self.active.id_tag if self.active is not None else None

    @property
    def stopping(self) -> bool:
        """A stop waits for the contactor to open."""
        return self._stop_reason is not None

    async def recover(self, reading: MeterReading | None) -> list[Transaction]:
        """End every transaction a crash left open, with the best meter value known."""

        def stop_value(transaction: Transaction) -> int:
            known = self.store.last_known_meter_wh(transaction)
            return max(known, meter_wh(reading)) if reading is not None else known

        closed = await asyncio.to_thread(
            self.store.close_interrupted, stop_value, StopReason.REBOOT, now=self._clock.now()
        )
        for transaction in closed:
            self._events.publish("transaction", _event(transaction, "ended"))
        self.active = None
        return closed

    async def start(self, id_tag: str, reading: MeterReading | None) -> bool:
        """Open a transaction at the meter's value; False when it could not be recorded."""
        if reading is None:
            return False
        try:
            self.active = await asyncio.to_thread(
                self.store.start,
                id_tag,
                meter_wh(reading),
                self.evse_id,
                self._clock.now(),
                self._rng,
            )
        except (PersistenceError, ValueError) as error:
            log.error("could not record the start of a transaction: %s", error)
            return False
        self._last_sample = self._clock.monotonic()
        self._events.publish("transaction", _event(self.active, "started"))
        return True

    def request_stop(self, reason: str) -> None:
        """Stop once the contactor is open (see finish)."""
        if self.active is not None:
            self._stop_reason = reason

    async def finish(self, reading: MeterReading | None) -> None:
        """Close the transaction with the meter's value, now that no current flows."""
        active, reason = self.active, self._stop_reason or "Local"
        if active is None:
            self._stop_reason = None
            return
        stop_wh = meter_wh(reading) if reading is not None else active.meter_start_wh
        stop_wh = max(stop_wh, active.meter_start_wh)
        try:
            ended = await asyncio.to_thread(
                self.store.stop,
                active.transaction_id,
                stop_wh,
                StopReason(reason),
                self._clock.now(),
            )
        except PersistenceError as error:
            log.error(
                "could not record the end of transaction %s: %s", active.transaction_id, error
            )
            return
        self.active, self._stop_reason = None, None
        self._events.publish("transaction", _event(ended, "ended"))

    async def sample(self, reading: MeterReading) -> None:
        """Record a meter sample every sample interval while a transaction is open."""
        active, now = self.active, self._clock.monotonic()
        if active is None or self._last_sample is None:
            return
        if now - self._last_sample < self._sample_interval_s:
            return
        self._last_sample = now
        try:
            await asyncio.to_thread(
                self.store.add_sample,
                active.transaction_id,
                self._clock.now(),
                meter_wh(reading),
                reading.power_w,
                reading.currents_a,
            )
        except PersistenceError as error:
            log.warning("meter sample not recorded: %s", error)


def _event(transaction: Transaction, what: str) -> dict[str, object]:
    return {
        "what": what,
        "transaction_id": transaction.transaction_id,
        "number": transaction.number,
        "id_tag": transaction.id_tag,
        "meter_start_wh": transaction.meter_start_wh,
        "meter_stop_wh": transaction.meter_stop_wh,
        "reason": transaction.stop_reason,
    }
