"""Dotted-path reads and edits of a round-trip profile document that keep everything else.

`metering.external.clamps.1.rating_a` walks mappings by key and lists by index. Edits change
values in place, so comments, key order and untouched lines stay byte-identical; comment lines
that follow a section move along when a key is appended or a subtree is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

Container = CommentedMap | CommentedSeq
Key = str | int


class ConfigPathError(LookupError):
    """A dotted path that does not lead to a place in the profile document."""


def split_path(path: str) -> tuple[str, ...]:
    """Split `a.b.0.c` into its segments; raises ConfigPathError on an empty segment."""
    parts = tuple(path.split("."))
    if not all(parts):
        raise ConfigPathError(f"{path!r} is not a dotted path like 'electrical.current_limit_a'")
    return parts


def lookup(document: Any, path: str) -> Any:
    """The node at `path` (raises ConfigPathError naming the first missing part)."""
    parts = split_path(path)
    node = document
    for depth, segment in enumerate(parts):
        key = _child_key(node, segment, parts[: depth + 1])
        if _is_missing(node, key):
            raise ConfigPathError(f"{'.'.join(parts[: depth + 1])}: not in the profile")
        node = node[key]
    return node


def assign(document: CommentedMap, path: str, value: Any) -> None:
    """Set `path` to `value` in place; missing keys are appended to the end of their mapping."""
    parts = split_path(path)
    new = to_yaml(value, path)
    node: Container = document
    for depth, segment in enumerate(parts):
        key = _child_key(node, segment, parts[: depth + 1])
        rest = parts[depth + 1 :]
        if not rest or _is_missing(node, key):
            _put(node, key, _nest(rest, new, path))
            return
        child = node[key]
        if not _is_section(child):
            raise ConfigPathError(f"{'.'.join(parts[: depth + 1])} is a value, not a section")
        node = child


def to_yaml(value: Any, path: str) -> Any:
    """Convert plain Python data (and enums) into round-trip nodes; rejects other types."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        mapping = CommentedMap()
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: mapping keys must be text, not {key!r}")
            mapping[key] = to_yaml(item, f"{path}.{key}")
        return mapping
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return CommentedSeq(to_yaml(item, f"{path}.{index}") for index, item in enumerate(value))
    raise TypeError(f"{path}: a profile cannot hold a {type(value).__name__} ({value!r})")


def _child_key(node: Any, segment: str, where: tuple[str, ...]) -> Key:
    if isinstance(node, CommentedMap):
        if segment not in node and segment.isdigit() and int(segment) in node:
            return int(segment)
        return segment
    if isinstance(node, CommentedSeq):
        if not segment.isdigit():
            raise ConfigPathError(f"{'.'.join(where)}: a list is indexed by number (0, 1, ...)")
        return int(segment)
    raise ConfigPathError(f"{'.'.join(where[:-1])} is a value, not a section")


def _is_missing(node: Container, key: Key) -> bool:
    if isinstance(node, CommentedMap):
        return key not in node
    return not isinstance(key, int) or key >= len(node)


def _nest(rest: tuple[str, ...], value: Any, path: str) -> Any:
    """`value` wrapped in new mappings for the path segments that do not exist yet."""
    for segment in reversed(rest):
        if segment.isdigit():
            raise ConfigPathError(f"{path}: list item {segment} does not exist")
        value = CommentedMap([(segment, value)])
    return value


def _put(node: Container, key: Key, new: Any) -> None:
    if isinstance(node, CommentedSeq):
        assert isinstance(key, int)
        if key > len(node):
            raise ConfigPathError(f"list index {key} is past the end (length {len(node)})")
        if key == len(node):
            _append(node, key, new)
        else:
            _replace(node, key, new)
    elif key in node:
        _replace(node, key, new)
    else:
        _append(node, key, new)


def _replace(node: Container, key: Key, new: Any) -> None:
    old = node[key]
    if isinstance(old, CommentedMap) and isinstance(new, CommentedMap):
        for gone in [k for k in old if k not in new]:
            _delete(old, gone)
        for item_key, item in new.items():
            _put(old, item_key, item)
    elif isinstance(old, CommentedSeq) and isinstance(new, CommentedSeq):
        while len(old) > len(new):
            _delete(old, len(old) - 1)
        for index, item in enumerate(new):
            _put(old, index, item)
    elif _is_section(old) or _is_section(new):
        tail = _detach_tail(node, key)
        node[key] = new
        _attach_tail(node, key, tail)
    else:
        node[key] = new  # ruamel keeps the old value's quoting style for a new string


def _append(node: Container, key: Key, new: Any) -> None:
    tail = _detach_tail(node, _last_key(node)) if len(node) else ""
    if isinstance(node, CommentedSeq):
        node.append(new)
    else:
        node[key] = new
    _attach_tail(node, key, tail)


def _delete(node: Container, key: Key) -> None:
    """Remove an entry; the comment lines after it stay, attached to the entry before it."""
    tail = _detach_tail(node, key)
    keys = list(range(len(node))) if isinstance(node, CommentedSeq) else list(node)
    position = keys.index(key)
    del node[key]  # a list also drops and renumbers its comments; a mapping does not
    if isinstance(node, CommentedMap):
        node.ca.items.pop(key, None)
    if position > 0:
        _attach_tail(node, keys[position - 1], tail)


def _is_section(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq)


def _last_key(node: Container) -> Key:
    return len(node) - 1 if isinstance(node, CommentedSeq) else next(reversed(node))


def _leaf_slot(node: Container, key: Key) -> tuple[Container, Key]:
    """The (container, key) of the last scalar in the subtree at node[key]."""
    value = node[key]
    while _is_section(value) and len(value):
        node, key = value, _last_key(value)
        value = node[key]
    return node, key


def _detach_tail(node: Container, key: Key) -> str:
    """Cut the comment lines after the subtree at node[key] (its end-of-line comment stays)."""
    holder, leaf = _leaf_slot(node, key)
    slot = _post_comment_slot(holder)
    entry = holder.ca.items.get(leaf)
    token = entry[slot] if entry is not None and len(entry) > slot else None
    if not isinstance(token, CommentToken):
        return ""
    head, newline, tail = token.value.partition("\n")
    token.value = head + newline
    return tail


def _attach_tail(node: Container, key: Key, tail: str) -> None:
    """Put comment lines cut by _detach_tail after the subtree at node[key]."""
    if not tail:
        return
    holder, leaf = _leaf_slot(node, key)
    slot = _post_comment_slot(holder)
    entry = holder.ca.items.setdefault(leaf, [None, None, None, None])
    token = entry[slot]
    if isinstance(token, CommentToken):
        token.value = token.value.removesuffix("\n") + "\n" + tail
    else:
        entry[slot] = CommentToken("\n" + tail, CommentMark(0))


def _post_comment_slot(holder: Container) -> int:
    """Where ruamel keeps the comment after a value in `ca.items[key]`."""
    return 2 if isinstance(holder, CommentedMap) else 0
