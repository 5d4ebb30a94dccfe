"""How many rounds a long-running test makes: a few in `make test` (CI), many in `make soak`.

The same test body runs in both; only the count changes, so `make test` still exercises every
path and `make soak` (`CHARGEOS_SOAK=1`, tests marked `soak`) hunts the rare interleavings.
"""

from __future__ import annotations

import os

SOAK_VARIABLE = "CHARGEOS_SOAK"


def soaking() -> bool:
    """True under `make soak`."""
    return os.environ.get(SOAK_VARIABLE) == "1"


def rounds(in_test: int, in_soak: int) -> int:
    """`in_test` rounds in `make test`, `in_soak` under `make soak`."""
    return in_soak if soaking() else in_test
