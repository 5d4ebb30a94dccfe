"""Transactions of one EVSE: started before current flows, ended after the contactor opened.

Wraps the SQLite TransactionStore (run in a thread) with the controller's view: the active
transaction, a stop that waits for the contactor, periodic meter samples, and at service start
the closing of a transaction a crash or power cut left open (with a meter stop value).
When storage fails, billing data that could not be written (meter samples, the stop record, the
closing of interrupted transactions) waits in memory, in order, and `retry()` writes it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from runtime.evse.clock import Clock
from runtime.evse.events import EventHub
from runtime.hardware.types import MeterReading
from runtime.persistence.errors import PersistenceError
from runtime.persistence.transaction_records import StopReason, Transaction
from runtime.persistence.transactions import TransactionStore

log = logging.getLogger(__name__)

# A failed write ends the session, so only the samples of its stop (at most the 6 s the car
# gets to stop drawing) queue up; the cap keeps memory bounded whatever happens.
MAX_UNWRITTEN_SAMPLES = 64


def meter_wh(reading: MeterReading) -> int:
    """A meter reading as billing data: whole watt-hours."""
    return round(reading.energy_import_kwh * 1000)


class StartOutcome(StrEnum):
    """How an attempt to open a transaction ended."""

    STARTED = "started"
    NO_METER = "no_meter"  # no meter reading to start on
    STORAGE_FAILED = "storage_failed"  # the row could not be written (see `failure`)
    REFUSED = "refused"  # the store refused the values (e.g. a malformed id tag)


@dataclass(frozen=True)
class _Sample:
    transaction_id: int
    at: datetime
    energy_wh: int
    power_w: float
    currents_a: tuple[float, float, float]


@dataclass(frozen=True)
class _Stop:
    transaction: Transaction
    meter_stop_wh: int
    reason: StopReason
    at: datetime


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
        self._samples: deque[_Sample] = deque()
        self._stop: _Stop | None = None
        self._recovery_due = False
        self._recovery_reading: MeterReading | None = None
        self._recovery_reason = StopReason.REBOOT
        self._writing = asyncio.Lock()  # one writer of the queue at a time, in order
        self.active: Transaction | None = None
        self.failure: PersistenceError | None = None  # the storage failure not yet overcome

    @property
    def id_tag(self) -> str | None:
        """The id tag of the open transaction."""
        return self.active.id_tag if self.active is not None else None

    @property
    def stopping(self) -> bool:
        """A stop waits for the contactor to open."""
        return self._stop_reason is not None

    @property
    def unwritten(self) -> int:
        """How many records (samples, a stop, a recovery) wait in memory for storage."""
        return len(self._samples) + (self._stop is not None) + self._recovery_due

    async def recover(
        self, reading: MeterReading | None, reason: StopReason = StopReason.REBOOT
    ) -> list[Transaction]:
        """End every transaction a crash left open (as `reason`), with the best meter value."""
        self._recovery_reason = reason
        self.active = None
        try:
            return await self._close_interrupted(reading)
        except PersistenceError as error:
            log.error("could not close the transactions a restart left open: %s", error)
            self.failure = error
            self._recovery_due, self._recovery_reading = True, reading
            return []

    async def start(self, id_tag: str, reading: MeterReading | None) -> StartOutcome:
        """Open a transaction at the meter's value; never while billing data waits in memory."""
        if reading is None:
            return StartOutcome.NO_METER
        if self.failure is not None:
            return StartOutcome.STORAGE_FAILED
        try:
            self.active = await asyncio.to_thread(
                self.store.start,
                id_tag,
                meter_wh(reading),
                self.evse_id,
                self._clock.now(),
                self._rng,
            )
        except PersistenceError as error:
            log.error("could not record the start of a transaction: %s", error)
            self.failure = error
            return StartOutcome.STORAGE_FAILED
        except ValueError as error:
            log.error("transaction for %r refused: %s", id_tag, error)
            return StartOutcome.REFUSED
        self._last_sample = self._clock.monotonic()
        self._events.publish("transaction", _event(self.active, "started"))
        return StartOutcome.STARTED

    def request_stop(self, reason: str) -> None:
        """Stop once the contactor is open (see finish)."""
        if self.active is not None:
            self._stop_reason = reason

    async def finish(self, reading: MeterReading | None) -> None:
        """Close the transaction with the meter's value, now that no current flows."""
        active, reason = self.active, self._stop_reason or "Local"
        self._stop_reason = None
        if active is None:
            return
        stop_wh = meter_wh(reading) if reading is not None else active.meter_start_wh
        sampled = max((sample.energy_wh for sample in self._samples), default=0)
        stop_wh = max(stop_wh, sampled, active.meter_start_wh)
        self._stop = _Stop(active, stop_wh, StopReason(reason), self._clock.now())
        self.active = None
        if self.failure is None:
            await self.retry()

    async def sample(self, reading: MeterReading) -> None:
        """Record a meter sample every sample interval while a transaction is open."""
        active, now = self.active, self._clock.monotonic()
        if active is None or self._last_sample is None:
            return
        if now - self._last_sample < self._sample_interval_s:
            return
        self._last_sample = now
        sample = _Sample(
            active.transaction_id,
            self._clock.now(),
            meter_wh(reading),
            reading.power_w,
            reading.currents_a,
        )
        if len(self._samples) >= MAX_UNWRITTEN_SAMPLES:
            dropped = self._samples.popleft()
            log.error("meter sample of %s at %s dropped: storage fails", *_where(dropped))
        self._samples.append(sample)
        if self.failure is None:
            await self.retry()

    async def retry(self) -> bool:
        """Write what waits in memory, in order (or check that storage takes writes again).

        True when storage works; otherwise `failure` says why and everything stays queued.
        """
        try:
            async with self._writing:
                if not self.unwritten:
                    await asyncio.to_thread(self.store.check_writable)
                await self._write_unwritten()
        except PersistenceError as error:
            if self.failure is None:
                log.error("storage failed, billing data kept in memory: %s", error)
            self.failure = error
            return False
        if self.failure is not None:
            log.warning("storage works again; all billing data written")
        self.failure = None
        return True

    async def _write_unwritten(self) -> None:
        if self._recovery_due:
            await self._close_interrupted(self._recovery_reading)
            self._recovery_due = False
        while self._samples:
            sample = self._samples[0]
            await asyncio.to_thread(
                self.store.add_sample,
                sample.transaction_id,
                sample.at,
                sample.energy_wh,
                sample.power_w,
                sample.currents_a,
            )
            self._samples.popleft()
        stop = self._stop
        if stop is not None:
            ended = await asyncio.to_thread(
                self.store.stop,
                stop.transaction.transaction_id,
                stop.meter_stop_wh,
                stop.reason,
                stop.at,
            )
            self._stop = None
            self._events.publish("transaction", _event(ended, "ended"))

    async def _close_interrupted(self, reading: MeterReading | None) -> list[Transaction]:
        def stop_value(transaction: Transaction) -> int:
            known = self.store.last_known_meter_wh(transaction)
            return max(known, meter_wh(reading)) if reading is not None else known

        closed = await asyncio.to_thread(
            self.store.close_interrupted, stop_value, self._recovery_reason, now=self._clock.now()
        )
        for transaction in closed:
            self._events.publish("transaction", _event(transaction, "ended"))
        return closed


def _where(sample: _Sample) -> tuple[int, str]:
    return sample.transaction_id, sample.at.isoformat()


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
