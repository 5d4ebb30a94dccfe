"""Checks on values before they are written, so a bad value is a clear ValueError, not a row.

Id tags are OCPP IdTokens (at most 36 printable characters, OCPP 2.0.1 IdTokenType; 1.6 allows
20); energy is a non-negative integer number of Wh; EVSEs are numbered from 1.
"""

from __future__ import annotations

ID_TAG_MAX_CHARS = 36


def require_id_tag(id_tag: str) -> None:
    """Refuse an id tag that is empty, longer than 36 characters or not printable."""
    if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= ID_TAG_MAX_CHARS:
        raise ValueError(f"id_tag must be 1 to {ID_TAG_MAX_CHARS} characters, got {id_tag!r}")
    if not id_tag.isprintable():
        raise ValueError(f"id_tag must be printable characters only, got {id_tag!r}")


def require_wh(name: str, value: int) -> None:
    """Refuse anything but a non-negative int (no float, no bool) as an energy in Wh."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer number of Wh, got {value!r}")


def require_evse(evse_id: int) -> None:
    """Refuse an EVSE id below 1 (OCPP connector 0 is the whole charger, never an EVSE)."""
    if not isinstance(evse_id, int) or isinstance(evse_id, bool) or evse_id < 1:
        raise ValueError(f"evse_id must be an integer >= 1, got {evse_id!r}")
