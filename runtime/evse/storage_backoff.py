"""When to try the data partition again after a write failed: exponential backoff, capped.

A full or failing partition costs one small write per attempt, not one per control cycle;
the cap bounds how long charging waits after an installer freed space.
"""

from __future__ import annotations

# The first retry comes after one meter period (the billing loop's pace); each failure doubles
# the wait, up to one minute: a partition that stays full costs a write a minute, and freed
# space is noticed within a minute.
STORAGE_RETRY_FIRST_S = 1.0
STORAGE_RETRY_FACTOR = 2.0
STORAGE_RETRY_MAX_S = 60.0


class StorageBackoff:
    """The next time a storage retry is due, doubled after every failed attempt."""

    def __init__(self) -> None:
        self._delay_s = STORAGE_RETRY_FIRST_S
        self._due_at: float | None = None

    @property
    def delay_s(self) -> float:
        """The wait before the next attempt."""
        return self._delay_s

    def due(self, now: float) -> bool:
        """Whether a retry is due at `now` (the first failure starts the clock)."""
        if self._due_at is None:
            self._due_at = now + self._delay_s
        return now >= self._due_at

    def failed(self, now: float) -> None:
        """The attempt at `now` failed: wait twice as long (at most STORAGE_RETRY_MAX_S)."""
        self._delay_s = min(self._delay_s * STORAGE_RETRY_FACTOR, STORAGE_RETRY_MAX_S)
        self._due_at = now + self._delay_s

    def reset(self) -> None:
        """Storage works again: the next failure starts from the first delay."""
        self._delay_s = STORAGE_RETRY_FIRST_S
        self._due_at = None
