"""Test helper: save a profile over and over, alternating one value, until it is killed.

Usage: save_forever.py PROFILE DOTTED.PATH VALUE_A VALUE_B MAX_SAVES (integer values).
Prints "ready" once the store is open, so the test kills it while it saves, not while it imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.config.store import ConfigStore


def main(argv: list[str]) -> None:
    """Alternate `path` between two values, saving after each change, at most `limit` times."""
    profile, path, value_a, value_b, limit = argv
    store = ConfigStore.open(Path(profile))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    a, b = int(value_a), int(value_b)
    for _ in range(int(limit)):
        store.set(path, b if store.get(path) == a else a)
        store.save()


if __name__ == "__main__":
    main(sys.argv[1:])
