"""How much of a profile file is ever read: standard library only, so the readers that must not
import a YAML parser (runtime.config.validated_copy) read exactly what runtime.config.profile_text
reads and checks."""

from __future__ import annotations

from pathlib import Path

# The shipped profiles are at most 6 KiB; 64 KiB leaves room for a local card list of about a
# thousand cards (~60 B each) and still parses in a fraction of a second on the board.
MAX_PROFILE_BYTES = 64 * 1024


def read_capped(path: Path) -> bytes:
    """The file's first MAX_PROFILE_BYTES + 1 bytes: one more than a profile may hold, so a
    longer file shows as too long without being read whole (raises OSError)."""
    with path.open("rb") as stream:
        return stream.read(MAX_PROFILE_BYTES + 1)
