"""Profile errors a person can act on: `FILE:LINE:COL: dotted.path: message`.

Pydantic reports where in the data a value is wrong; this module finds that place in the
round-trip YAML document (line and column), names the path the way it is written in the file,
and suggests the key that was probably meant when a key is unknown.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schemas.base import RuleViolations

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ProfileError:
    """One problem in a profile, located in its source file."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.path}: {self.message}"


class ProfileInvalid(Exception):
    """A profile failed to parse or validate; carries every error found."""

    def __init__(self, errors: Iterable[ProfileError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def errors_from_validation(
    error: ValidationError, document: Any, source: str, model: type[BaseModel]
) -> list[ProfileError]:
    """Turn a pydantic ValidationError into located profile errors, in file order."""
    located: list[ProfileError] = []
    for detail in error.errors():
        for loc, message, points_at_key in _expand(detail):
            path, (line, column) = _locate(document, loc, points_at_key)
            if detail["type"] == "extra_forbidden":
                message = _unknown_key_message(model, loc)
            located.append(ProfileError(source, line + 1, column + 1, path or "(profile)", message))
    return sorted(located, key=lambda e: (e.line, e.column, e.path))


def _expand(detail: ErrorDetails) -> list[tuple[Loc, str, bool]]:
    """One pydantic error becomes one or more (loc, message, points-at-key) triples."""
    loc = tuple(detail["loc"])
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, RuleViolations):
        return [(loc + v.field, v.message, False) for v in cause.violations]
    kind = detail["type"]
    if kind == "union_tag_not_found":
        return [_missing_tag(loc, detail)]
    if kind == "missing":
        return [(loc, "required key is missing", False)]
    if kind == "extra_forbidden":
        return [(loc, "unknown key", True)]
    message = detail["msg"].removeprefix("Value error, ")
    return [(loc, message, False)]


def _missing_tag(loc: Loc, detail: ErrorDetails) -> tuple[Loc, str, bool]:
    """`kind` picks the variant of a section: point at a misspelt `kind` when there is one."""
    data = detail.get("input")
    near = difflib.get_close_matches("kind", list(data), n=1) if isinstance(data, dict) else []
    if near:
        return ((*loc, near[0]), f"unknown key {near[0]!r}; did you mean 'kind'?", True)
    return ((*loc, "kind"), "required key 'kind' is missing (it selects the variant)", False)


def _locate(document: Any, loc: Loc, points_at_key: bool) -> tuple[str, tuple[int, int]]:
    """Walk `loc` through the YAML document: the written path and its (line, col), 0-based."""
    node = document
    position = (0, 0)
    parts: list[str] = []
    for index, element in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, Mapping) and isinstance(element, str):
            if element in node:
                if last and not points_at_key:
                    position = _value_position(node, element)
                else:
                    position = _key_position(node, element)
                parts.append(element)
                node = node[element]
                continue
            if node.get("kind") == element or "[" in element:
                continue  # a union tag or validator name in pydantic's loc, not in the file
            parts.append(element)  # a missing key: point at its parent
            node = None
            continue
        if _is_list(node) and isinstance(element, int) and 0 <= element < len(node):
            position = _item_position(node, element)
            parts.append(str(element))
            node = node[element]
            continue
        parts.append(str(element))
        node = None
    return ".".join(parts), position


def _is_list(node: Any) -> bool:
    return isinstance(node, Sequence) and not isinstance(node, str)


def _key_position(node: Any, key: str) -> tuple[int, int]:
    try:
        line, column = node.lc.key(key)
    except (AttributeError, KeyError, TypeError):
        return (0, 0)
    return int(line), int(column)


def _value_position(node: Any, key: str) -> tuple[int, int]:
    if node[key] is None or isinstance(node[key], Mapping) or _is_list(node[key]):
        return _key_position(node, key)
    try:
        line, column = node.lc.value(key)
    except (AttributeError, KeyError, TypeError):
        return _key_position(node, key)
    return int(line), int(column)


def _item_position(node: Any, index: int) -> tuple[int, int]:
    try:
        line, column = node.lc.item(index)
    except (AttributeError, KeyError, IndexError, TypeError):
        return (0, 0)
    return int(line), int(column)


def _unknown_key_message(model: type[BaseModel], loc: Loc) -> str:
    key = str(loc[-1]) if loc else ""
    owner = _model_at(model, loc[:-1])
    if owner is None:
        return f"unknown key {key!r}"
    known = list(owner.model_fields)
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if match:
        return f"unknown key {key!r}; did you mean {match[0]!r}?"
    return f"unknown key {key!r}; expected one of: {', '.join(known)}"


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (union tags in loc pick the member)."""
    candidates: list[Any] = [model]
    for element in loc:
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if isinstance(element, int):
            candidates = [arg for c in candidates for arg in _sequence_items(c)]
            continue
        tagged = [m for m in models if _tag_of(m) == element]
        if tagged:
            candidates = tagged
            continue
        fields = [m.model_fields[element] for m in models if element in m.model_fields]
        if not fields:
            return None
        candidates = [arg for field in fields for arg in _flatten(field.annotation)]
    found = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return found[0] if len(found) == 1 else None


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind")
    return field.default if field is not None else None


def _flatten(annotation: Any) -> list[Any]:
    """Unwrap Annotated, Optional and unions into their member types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _flatten(arg)]
    return [annotation]


def _sequence_items(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return [member for arg in args for member in _flatten(arg)]
    return []
