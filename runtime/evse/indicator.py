"""The LED and buzzer as the owner sees them: a state colour plus short overlays.

Overlays come from the manual: one red blink (card refused, overcurrent), one blink before
light blue (card accepted), blue/green blinking while a firmware update runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime.evse.states import LedColour

BLINK_S = 0.4  # one blink: off-colour-off within about half a second
UPDATE_BLINK_PERIOD_S = 1.0


@dataclass(frozen=True)
class Blink:
    """A one-time blink of `colour` starting at `at`."""

    colour: LedColour
    at: float


class Indicator:
    """Composes the LED colour to show at an instant."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._blink: Blink | None = None
        self.updating = False

    def blink(self, colour: LedColour) -> None:
        """Queue one blink of `colour` over the state colour."""
        self._blink = Blink(colour, self._clock())

    def colour(self, state_colour: LedColour) -> LedColour:
        """What the LED shows now for a state colour."""
        now = self._clock()
        blink = self._blink
        if blink is not None:
            elapsed = now - blink.at
            if elapsed < BLINK_S:
                return blink.colour if elapsed < BLINK_S / 2 else LedColour.OFF
            self._blink = None
        if self.updating and state_colour is not LedColour.RED:
            phase = int(now / (UPDATE_BLINK_PERIOD_S / 2)) % 2
            return LedColour.BLUE if phase == 0 else LedColour.GREEN
        return state_colour
