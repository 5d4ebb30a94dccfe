"""Injected time for the evse service: monotonic seconds for rules, wall time for records."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """Where the controller reads time; tests pass a virtual one."""

    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=_utc_now)
