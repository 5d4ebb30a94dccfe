"""Storage retries back off: one second after the failure, then twice as long each time, at
most a minute, and from the start again once storage worked."""

from __future__ import annotations

from itertools import pairwise

from runtime.evse.storage_backoff import (
    STORAGE_RETRY_FIRST_S,
    STORAGE_RETRY_MAX_S,
    StorageBackoff,
)


def _attempts(backoff: StorageBackoff, until_s: float, step_s: float = 0.5) -> list[float]:
    """The times a retry was due (and failed) while storage kept failing."""
    attempts: list[float] = []
    now = 0.0
    while now <= until_s:
        if backoff.due(now):
            attempts.append(now)
            backoff.failed(now)
        now += step_s
    return attempts


def test_retries_double_their_wait_up_to_a_minute() -> None:
    attempts = _attempts(StorageBackoff(), until_s=400)
    waits = [later - earlier for earlier, later in pairwise(attempts)]
    assert attempts[0] == STORAGE_RETRY_FIRST_S
    assert waits[:6] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert set(waits[6:]) == {STORAGE_RETRY_MAX_S}


def test_a_success_starts_the_backoff_over() -> None:
    backoff = StorageBackoff()
    _attempts(backoff, until_s=200)
    backoff.reset()
    assert backoff.delay_s == STORAGE_RETRY_FIRST_S
    assert not backoff.due(1000.0)
    assert backoff.due(1000.0 + STORAGE_RETRY_FIRST_S)
