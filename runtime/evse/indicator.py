"""The LED and buzzer as the owner sees them: a state colour plus short overlays.

Overlays come from the manual: one red blink (card refused, overcurrent), one blink before
light blue (card accepted), blue/green blinking while a firmware update runs. The update's
blinking has a deadline the updater keeps pushing back, and never hides a fault's red.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime.evse.states import LedColour

BLINK_S = 0.4  # one blink: off-colour-off within about half a second
UPDATE_BLINK_PERIOD_S = 1.0  # blue then green, about 1 Hz
FAULT_COLOUR = LedColour.RED  # safety first: a fault shows steady red, whatever else runs


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
        self._updating_until: float | None = None

    @property
    def updating(self) -> bool:
        """An update is said to run (and its indication has not run out)."""
        until = self._updating_until
        return until is not None and self._clock() < until

    def start_updating(self, duration_s: float) -> None:
        """An update runs: blink blue/green for `duration_s` unless renewed or stopped."""
        self._updating_until = self._clock() + duration_s

    def stop_updating(self) -> None:
        """The update ended."""
        self._updating_until = None

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
        if self.updating and state_colour is not FAULT_COLOUR:
            phase = int(now / (UPDATE_BLINK_PERIOD_S / 2)) % 2
            return LedColour.BLUE if phase == 0 else LedColour.GREEN
        return state_colour
