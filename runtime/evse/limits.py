"""An external current limit with an expiry: OCPP smart charging or the load balancer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


class ExternalLimit:
    """The most recent external limit; gone once it expires."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._current_a: float | None = None
        self._expires_at: datetime | None = None

    def set(self, current_a: float, expires_at: datetime | None) -> None:
        """Limit the charging current to `current_a` until `expires_at` (None: until cleared)."""
        if current_a < 0:
            raise ValueError(f"a current limit cannot be negative: {current_a}")
        self._current_a, self._expires_at = current_a, expires_at

    def clear(self) -> None:
        """Remove the limit."""
        self._current_a = self._expires_at = None

    @property
    def expires_at(self) -> datetime | None:
        """When the limit ends (None: never, or no limit)."""
        return self._expires_at if self.current_a() is not None else None

    def current_a(self) -> float | None:
        """The limit in force, or None."""
        if self._current_a is None:
            return None
        if self._expires_at is not None and self._now() >= self._expires_at:
            self.clear()
            return None
        return self._current_a
