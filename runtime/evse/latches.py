"""Latched faults and the tilt calibration outlive evse; only a board power cycle clears RCM/weld.

The keeper mirrors every latched fault and each calibration into the LatchStore and restores
them when the controller is built, so a crash, an Admin restart or a profile save forgets
nothing. The power board's watchdog register reads 0 (off) after its power-up and evse never
writes 0: reading 0 where evse armed it means the board itself was power-cycled.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime

from runtime.evse.faults import ActiveFault, FaultKind, FaultTracker, Latch
from runtime.evse.monitors import TiltBumpMonitor
from runtime.hardware.errors import DeviceError
from runtime.hardware.protocols import PowerBoard
from runtime.hardware.types import Acceleration
from runtime.persistence.errors import PersistenceError
from runtime.persistence.latches import LatchStore, StoredLatchKind

log = logging.getLogger(__name__)

POWER_UP_WATCHDOG_S = 0  # the board's watchdog register after power-up (register map: 0 = off)
STORAGE_ERRORS = (PersistenceError, sqlite3.Error)


class LatchKeeper:
    """Keeps latched faults and the tilt sensor's rest position in a LatchStore (or nowhere)."""

    def __init__(self, store: LatchStore | None, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    def restore(self, faults: FaultTracker, tilt: TiltBumpMonitor) -> tuple[ActiveFault, ...]:
        """Raise again what was latched before this start; use the stored rest position."""
        if self._store is None:
            return ()
        try:
            latched, calibration = self._store.latched(), self._store.calibration()
        except STORAGE_ERRORS as error:
            log.error("latched faults and tilt calibration not restored: %s", error)
            return ()
        restored: list[FaultKind] = []
        for row in latched:
            try:
                kind = FaultKind(row.kind)
            except ValueError:
                log.error("stored latch %r is no fault this evse knows; ignored", row.kind)
                continue
            age_s = (self._now() - row.raised_at).total_seconds()
            faults.restore(kind, f"{row.detail} (latched before evse restarted)", age_s)
            restored.append(kind)
        if restored:
            log.warning("faults latched before this start: %s", ", ".join(restored))
        if calibration is not None:
            tilt.calibrate(calibration.rest)
        return tuple(fault for fault in faults.active if fault.kind in restored)

    def fault_changed(self, fault: ActiveFault, raised: bool) -> None:
        """Write a latched fault's raise or clear through to the data partition."""
        latch = fault.spec.latch
        if self._store is None or latch is Latch.SELF:
            return
        try:
            if raised:
                how: StoredLatchKind = "cleared" if latch is Latch.CLEARED else "power_cycle"
                self._store.latch(fault.kind.value, how, self._now(), fault.detail)
            else:
                self._store.unlatch(fault.kind.value)
        except STORAGE_ERRORS as error:
            what = "raise" if raised else "clear"
            log.error(
                "the %s of latched fault %s is not stored (%s): a restart of evse would not "
                "see it; free the data partition",
                what,
                fault.kind,
                error,
            )

    def forget_calibration(self) -> None:
        """An explicit calibration is asked for: a restart before the next sample still takes it."""
        if self._store is None:
            return
        try:
            self._store.forget_calibration()
        except STORAGE_ERRORS as error:
            log.error("tilt calibration request not stored (%s): restarts keep the old one", error)

    def calibrated(self, rest: Acceleration) -> None:
        """`rest` is the new rest position of the tilt sensor: keep it."""
        if self._store is None:
            return
        try:
            self._store.calibrate(rest, self._now())
        except STORAGE_ERRORS as error:
            log.error("tilt calibration not stored (%s): evse restarts with the old one", error)


async def board_was_power_cycled(board: PowerBoard) -> bool:
    """True when the board's watchdog register is back at its power-up default (evse armed it)."""
    try:
        return await board.read_watchdog() == POWER_UP_WATCHDOG_S
    except DeviceError as error:
        log.warning("power board watchdog setting not read (power cycle not checked): %s", error)
        return False


def clear_power_cycle_latches(faults: FaultTracker) -> tuple[FaultKind, ...]:
    """The board was power-cycled: clear RCM and weld latches (call with the controller's lock)."""
    cleared = faults.clear_power_cycled()
    if cleared:
        log.warning("the power board was power-cycled: cleared %s", ", ".join(cleared))
    return cleared


async def arm_watchdog(
    board: PowerBoard, faults: FaultTracker, lock: asyncio.Lock, timeout_s: int
) -> tuple[FaultKind, ...]:
    """Arm the board's watchdog; found at its power-up default, the board was power-cycled.

    Whatever writes the watchdog register must check first: once written, the sign is gone.
    """
    cleared: tuple[FaultKind, ...] = ()
    if await board_was_power_cycled(board):
        async with lock:
            cleared = clear_power_cycle_latches(faults)
    await board.set_watchdog(timeout_s)
    return cleared
