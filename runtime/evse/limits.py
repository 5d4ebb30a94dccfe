"""An external current limit with an expiry: OCPP smart charging or the load balancer.

A duration runs on the monotonic clock, so an NTP step (at boot, or a corrected clock) neither
shortens nor lengthens it. Only an absolute end the backoffice gave (OCPP's validTo, a schedule's
end) is compared with the wall clock, because that instant is the backoffice's wall-clock time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.evse.clock import Clock


class ExternalLimit:
    """The most recent external limit; gone once it expires."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._current_a: float | None = None
        self._until_wall: datetime | None = None  # an absolute end, on the wall clock
        self._until_monotonic: float | None = None  # the end of a duration, monotonic seconds

    def set(
        self,
        current_a: float,
        expires_at: datetime | None = None,
        *,
        duration_s: float | None = None,
    ) -> None:
        """Limit the charging current to `current_a` until the absolute `expires_at` or for
        `duration_s` seconds (neither: until cleared)."""
        if current_a < 0:
            raise ValueError(f"a current limit cannot be negative: {current_a}")
        if expires_at is not None and duration_s is not None:
            raise ValueError("a limit ends at expires_at or after duration_s, not both")
        self._current_a, self._until_wall = current_a, expires_at
        self._until_monotonic = None
        if duration_s is not None:
            self._until_monotonic = self._clock.monotonic() + duration_s

    def clear(self) -> None:
        """Remove the limit."""
        self._current_a = self._until_wall = self._until_monotonic = None

    @property
    def expires_at(self) -> datetime | None:
        """When the limit ends as wall time now (None: never, or no limit); for a duration
        this follows the wall clock as it is set now, while the end itself does not move."""
        if self.current_a() is None:
            return None
        if self._until_monotonic is not None:
            left_s = self._until_monotonic - self._clock.monotonic()
            return self._clock.now() + timedelta(seconds=left_s)
        return self._until_wall

    def current_a(self) -> float | None:
        """The limit in force, or None."""
        if self._current_a is None:
            return None
        if self._expired():
            self.clear()
            return None
        return self._current_a

    def _expired(self) -> bool:
        if self._until_monotonic is not None:
            return self._clock.monotonic() >= self._until_monotonic
        return self._until_wall is not None and self._clock.now() >= self._until_wall
