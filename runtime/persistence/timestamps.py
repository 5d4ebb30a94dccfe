"""UTC timestamps as text in the database: one fixed ISO 8601 form that sorts as it reads.

Every stored time is `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`; naive datetimes are refused, because a
charger whose clock zone is unknown must not write an ambiguous billing record.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    """The stored text of an aware datetime, in UTC with microseconds."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    """The aware UTC datetime of stored text."""
    return datetime.fromisoformat(text).astimezone(UTC)


def optional_from_db(text: str | None) -> datetime | None:
    """from_db for a nullable column."""
    return None if text is None else from_db(text)
