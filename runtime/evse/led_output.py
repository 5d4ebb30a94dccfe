"""The LED as an output: the colour written when it changes and refreshed now and then.

A driver that stops answering becomes a warning (the General page shows it) once, never a log
line per write; charging goes on without a visible colour.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.evse.device_watch import DeviceWatch
from runtime.evse.states import LED_RGBW, LedColour
from runtime.hardware.errors import DeviceError
from runtime.hardware.protocols import Led

LED_MISSING_AFTER = 3  # failed writes in a row before the driver counts as lost
# The colour is written again this often even when it stays: a driver reset by a brownout shows
# it again, and a driver that vanished is noticed although nothing new was to be shown.
LED_REFRESH_S = 5.0


class LedOutput:
    """Writes colours to the LED driver and watches that it answers."""

    def __init__(self, led: Led, watch: DeviceWatch, monotonic: Callable[[], float]) -> None:
        self._led = led
        self.watch = watch
        self._monotonic = monotonic
        self._shown: LedColour | None = None
        self._shown_at = float("-inf")

    async def show(self, colour: LedColour) -> None:
        """Put `colour` on the LED (when it changes, and every LED_REFRESH_S)."""
        now = self._monotonic()
        if colour is self._shown and now - self._shown_at < LED_REFRESH_S:
            return
        try:
            await self._led.show(LED_RGBW[colour])
        except DeviceError as error:
            self._shown = None  # try again next time
            self.watch.failed(str(error))  # a warning once lost, not a log line
            return
        self.watch.answered()
        self._shown, self._shown_at = colour, now
