"""Reading profile text safely: the one way every reader (build.py validate, the config store,
first boot) gets a profile's text, and the check its YAML passes before it is built.

A hostile file is refused quickly and located (FILE:LINE:COL of the offending byte or alias):
over the size cap, not UTF-8, an alias bomb ("billion laughs"), nesting too deep. Each cap
bounds the work: at most MAX_PROFILE_BYTES are read, and aliases are counted, never expanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    ScalarEvent,
)
from ruamel.yaml.reader import ReaderError

from runtime.config.errors import ProfileError, ProfileInvalid
from runtime.config.profile_file import MAX_PROFILE_BYTES, read_capped
from runtime.config.yaml_io import new_yaml

__all__ = ["MAX_DEPTH", "MAX_PROFILE_BYTES", "MAX_VALUES", "check_profile_text", "decode_profile",
           "read_profile_text"]  # fmt: skip
# The shipped profiles hold under 400 values and a thousand local cards about 5,000; aliases
# (or a file of bare values) may not make more, so building and validating stays quick.
MAX_VALUES = 16 * 1024
# A profile nests five levels; the YAML composer recurses once per level.
MAX_DEPTH = 32


def read_profile_text(path: Path, what: str = "the profile") -> str:
    """The text of the profile (or other ChargeOS YAML file) at `path`, or ProfileInvalid."""
    try:
        data = read_capped(path)
    except OSError as error:
        raise _invalid(str(path), 1, 1, "(file)", f"cannot read {what}: {error}") from None
    return decode_profile(data, str(path))


def decode_profile(data: bytes, source: str) -> str:
    """Profile bytes as text: refused past the size cap or at the first byte not UTF-8."""
    if len(data) > MAX_PROFILE_BYTES:
        line, column = _position(data, MAX_PROFILE_BYTES)
        raise _invalid(
            source,
            line,
            column,
            "(file)",
            f"the file is larger than {MAX_PROFILE_BYTES // 1024} KiB, the most a profile may"
            " be; remove what it does not need (long comments, unused entries)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        raise _invalid(
            source,
            line,
            column,
            "(file)",
            f"byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8",
        ) from None


def check_profile_text(text: str, source: str) -> None:
    """Refuse text over the size cap, an alias bomb or deep nesting; YAML errors pass through
    as ruamel raises them (the loader locates those)."""
    decode_profile(text.encode("utf-8", errors="surrogateescape"), source)
    try:
        _count_values(text, source)
    except ReaderError as error:  # a character YAML does not allow (a control character)
        line, column = _position(text.encode("utf-8"), _byte_offset(text, error.position))
        character = error.character if isinstance(error.character, int) else ord(error.character)
        message = f"character {character:#04x} is not allowed in YAML text; remove it"
        raise _invalid(source, line, column, "(yaml)", message) from None


@dataclass
class _Open:
    """A mapping or sequence not closed yet: its anchor and its values so far (expanded)."""

    anchor: str | None
    values: int = 1


def _count_values(text: str, source: str) -> None:
    """Count the values the document has once every alias is expanded, from the event stream
    (linear in the text); stop at the first alias or nesting that passes a cap."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    open_: list[_Open] = []
    total = 0
    for event in new_yaml().parse(text):
        if isinstance(event, CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                _refuse(source, event, f"the profile is nested deeper than {MAX_DEPTH} levels")
            open_.append(_Open(_anchor(event)))
            total += 1
        elif isinstance(event, CollectionEndEvent):
            closed = open_.pop()
            if closed.anchor is not None:
                sizes[closed.anchor] = closed.values
            if open_:
                open_[-1].values += closed.values
            continue
        elif isinstance(event, ScalarEvent | AliasEvent):
            alias = isinstance(event, AliasEvent)
            values = sizes.get(str(event.anchor), 1) if alias else 1
            if not alias and _anchor(event) is not None:
                sizes[str(_anchor(event))] = 1
            total += values
            if open_:
                open_[-1].values += values
            if alias and total > MAX_VALUES:
                _refuse(
                    source,
                    event,
                    f"alias *{event.anchor} expands the profile past {MAX_VALUES} values"
                    " (an alias bomb?); write the values out or use fewer aliases",
                )
        if total > MAX_VALUES:
            _refuse(source, event, f"the profile has more than {MAX_VALUES} values")


def _anchor(event: Event) -> str | None:
    anchor = getattr(event, "anchor", None)
    return None if anchor is None else str(anchor)


def _refuse(source: str, event: Event, message: str) -> None:
    mark = event.start_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    raise _invalid(source, line, column, "(yaml)", message)


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of the byte at `offset`."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace"))
    return data.count(b"\n", 0, offset) + 1, column + 1


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", errors="surrogateescape"))


def _invalid(source: str, line: int, column: int, path: str, message: str) -> ProfileInvalid:
    return ProfileInvalid([ProfileError(source, line, column, path, message)])
