"""Commands from outside the controller (OCPP service, web configurator, simulation CLI).

Each takes the controller's lock, acts on the state machine or the limits, and answers with
the OCPP-style status the caller reports back (Accepted, Rejected, Scheduled, NotSupported).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Literal

from runtime.evse.api_models import UPDATING_LIFETIME_S
from runtime.evse.controller import Controller
from runtime.evse.states import EvseState
from runtime.hardware.errors import DeviceError

log = logging.getLogger(__name__)

Answer = Literal["Accepted", "Rejected", "Scheduled", "NotSupported"]


class Commands:
    """What other services may ask of the charging controller."""

    def __init__(self, controller: Controller, shutdown: asyncio.Event) -> None:
        self._controller = controller
        self._shutdown = shutdown

    async def remote_start(self, id_tag: str) -> Answer:
        """OCPP RemoteStartTransaction: authorize `id_tag` as if its card was presented."""
        machine = self._controller.machine
        async with self._controller.lock:
            if machine.state not in (EvseState.AVAILABLE, EvseState.CONNECTED):
                return "Rejected"
            return "Accepted" if machine.authorize(id_tag) else "Rejected"

    async def remote_stop(self, transaction_id: int) -> Answer:
        """OCPP RemoteStopTransaction of the open transaction."""
        active = self._controller.sessions.active
        if active is None or transaction_id not in (
            active.transaction_id,
            active.csms_transaction_id,
        ):
            return "Rejected"
        async with self._controller.lock:
            return "Accepted" if self._controller.machine.stop("Remote") else "Rejected"

    async def change_availability(self, operative: bool) -> Answer:
        """OCPP ChangeAvailability; during a session it takes effect when the session ends."""
        async with self._controller.lock:
            self._controller.machine.inputs.operative = operative
            busy = self._controller.machine.in_session
        return "Scheduled" if busy and not operative else "Accepted"

    async def set_current_limit(
        self,
        current_a: float | None,
        expires_at: datetime | None = None,
        *,
        duration_s: float | None = None,
    ) -> Answer:
        """An external limit (OCPP smart charging, load balancing) until the absolute
        `expires_at` or for `duration_s` (monotonic seconds); None removes it."""
        limit = self._controller.external_limit
        async with self._controller.lock:
            if current_a is None:
                limit.clear()
            else:
                limit.set(current_a, expires_at, duration_s=duration_s)
        return "Accepted"

    async def reset(self, kind: Literal["soft", "hard"]) -> Answer:
        """OCPP Reset: end the session, then restart the service (supervisord brings it back)."""
        reason = "SoftReset" if kind == "soft" else "HardReset"
        async with self._controller.lock:
            self._controller.shutdown_reason = reason
            self._controller.machine.stop(reason)
        log.warning("%s reset requested: the service restarts once the session is closed", kind)
        self._shutdown.set()
        return "Accepted"

    async def reload(self) -> Answer:
        """The profile changed: restart (supervisord brings us back) once no session is open."""
        self._controller.reload_requested = True
        busy = self._controller.machine.in_session or self._controller.sessions.stopping
        log.info("profile reload requested%s", " after the session" if busy else "")
        return "Scheduled" if busy else "Accepted"

    async def unlock(self) -> Answer:
        """OCPP UnlockConnector: the Type 2 cable is fixed, there is no lock to open."""
        return "NotSupported"

    async def set_updating(self, updating: bool, duration_s: float = UPDATING_LIFETIME_S) -> Answer:
        """A firmware update runs for `duration_s` more (the LED blinks blue/green), or ended."""
        indicator = self._controller.indicator
        if updating:
            indicator.start_updating(duration_s)
        else:
            indicator.stop_updating()
        return "Accepted"

    async def clear_faults(self, by: str = "local API") -> Answer:
        """Clear what may be cleared (tilt, stuck contactor): a security event naming `by`.

        The rest position stays: a charger still tilted faults again at its next sample.
        """
        controller = self._controller
        async with controller.lock:
            cleared = controller.faults.clear()
        try:
            await controller.devices.power_board.clear_faults()
        except DeviceError as error:
            log.warning("power board did not clear its faults: %s", error)
        if cleared:
            kinds = ", ".join(cleared)
            controller.events.publish(
                "security",
                {
                    "event": "faults_cleared",
                    "by": by,
                    "cleared": list(cleared),
                    "message": f"EVSE 1: latched faults cleared by {by}: {kinds}",
                },
            )
        return "Accepted" if cleared else "Rejected"

    async def calibrate_tilt(self) -> Answer:
        """Explicit calibration: the next accelerometer sample becomes the stored rest position."""
        controller = self._controller
        if controller.devices.accelerometer is None:
            return "Rejected"
        async with controller.lock:
            controller.tilt.forget_calibration()
            controller.latches.forget_calibration()
        log.info("tilt sensor: the next sample becomes the rest position")
        return "Accepted"
