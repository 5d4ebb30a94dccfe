"""Presence of the communication board's I2C devices, and the warnings a missing one shows.

A device that fails MISSING_AFTER polls in a row is lost, and back at its first answer; each
change is reported once, never per poll, so a vanished chip costs one log line each way. The
controller decides per device whether a loss is a fault (no energy) or a warning (shown only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from runtime.evse.events import EventHub

log = logging.getLogger(__name__)


class WarningKind(StrEnum):
    """Every warning the controller can show (the charger stays usable)."""

    LED = "led"


@dataclass(frozen=True)
class WarningSpec:
    """How one warning kind shows."""

    vendor_error_code: str
    description: str  # what the General page says


WARNINGS: dict[WarningKind, WarningSpec] = {
    WarningKind.LED: WarningSpec(
        "LED_MISSING",
        "the status LED driver does not answer: charging works, but the LED shows nothing and"
        " the buzzer is silent; call your installer",
    ),
}


@dataclass(frozen=True)
class ActiveWarning:
    """A warning shown now."""

    kind: WarningKind
    since: float
    detail: str

    @property
    def spec(self) -> WarningSpec:
        """The warning's description row."""
        return WARNINGS[self.kind]


class WarningTracker:
    """The set of shown warnings; reports each change once to a listener (log, events)."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_change: Callable[[ActiveWarning, bool], None] = lambda warning, raised: None,
    ) -> None:
        self._clock = clock
        self._active: dict[WarningKind, ActiveWarning] = {}
        self._on_change = on_change

    @property
    def active(self) -> tuple[ActiveWarning, ...]:
        """The shown warnings, oldest first."""
        return tuple(self._active.values())

    def report(self, kind: WarningKind, present: bool, detail: str = "") -> None:
        """The condition behind `kind` is (or is no longer) present."""
        if present and kind not in self._active:
            warning = ActiveWarning(kind, self._clock(), detail)
            self._active[kind] = warning
            self._on_change(warning, True)
        elif not present and kind in self._active:
            self._on_change(self._active.pop(kind), False)


def announce_warnings(events: EventHub) -> Callable[[ActiveWarning, bool], None]:
    """A WarningTracker listener: one log line and one `warning` event per change."""

    def announce(warning: ActiveWarning, raised: bool) -> None:
        spec = warning.spec
        if raised:
            log.warning("warning %s: %s (%s)", warning.kind, spec.description, warning.detail)
        else:
            log.info("warning %s cleared", warning.kind)
        events.publish(
            "warning",
            {
                "kind": str(warning.kind),
                "raised": raised,
                "vendor_error_code": spec.vendor_error_code,
                "detail": warning.detail,
            },
        )

    return announce


class DeviceWatch:
    """Counts one device's failed polls; calls `on_change(missing, detail)` once per change."""

    def __init__(self, missing_after: int, on_change: Callable[[bool, str], None]) -> None:
        if missing_after < 1:
            raise ValueError(f"missing_after must be >= 1, got {missing_after}")
        self._missing_after = missing_after
        self._on_change = on_change
        self._failures = 0
        self.missing = False

    def failed(self, detail: str) -> None:
        """A poll failed; lost after `missing_after` of them in a row."""
        self._failures += 1
        if self._failures >= self._missing_after:
            self.lost(detail)

    def lost(self, detail: str) -> None:
        """The device is gone now (a failed probe needs no second try to tell)."""
        self._failures = max(self._failures, self._missing_after)
        if not self.missing:
            self.missing = True
            self._on_change(True, detail)

    def answered(self) -> None:
        """A poll succeeded: the device is (back) here."""
        self._failures = 0
        if self.missing:
            self.missing = False
            self._on_change(False, "")
