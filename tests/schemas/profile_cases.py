"""Shared by the schema tests: where the example and invalid profiles live, and how to read them.

Each invalid profile starts with a machine-readable header, for example:

    # expect: 12 electrical.current_limit_a: less than or equal to 63
    # jsonschema: reject
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from runtime.config.yaml_io import load_document, to_plain
from schemas import Profile

REPO = Path(__file__).resolve().parents[2]
PROFILES_DIR = REPO / "profiles"
INVALID_DIR = Path(__file__).resolve().parent / "invalid"
SCHEMA_FILE = REPO / "schemas" / "profile.schema.json"
MODELINE = "# yaml-language-server: $schema=../schemas/profile.schema.json"

PROFILE_PATHS = sorted(PROFILES_DIR.glob("*.yaml"))
INVALID_PATHS = sorted(INVALID_DIR.glob("*.yaml"))

JsonSchemaMark = Literal["reject", "accept", "n/a"]
_EXPECT = re.compile(r"^# expect: (?P<line>\d+) (?P<path>\S+): (?P<message>.+)$", re.M)
_JSONSCHEMA = re.compile(r"^# jsonschema: (?P<mark>reject|accept|n/a)\b(?P<why>.*)$", re.M)


@dataclass(frozen=True)
class Expectation:
    """What an invalid profile's header promises: one located error, and the schema's verdict."""

    line: int
    path: str
    message: str
    jsonschema: JsonSchemaMark
    why: str


def expectation_of(path: Path) -> Expectation:
    """Parse the `# expect:` and `# jsonschema:` header lines of an invalid profile."""
    text = path.read_text(encoding="utf-8")
    expect = _EXPECT.search(text)
    mark = _JSONSCHEMA.search(text)
    if expect is None or mark is None:
        raise AssertionError(f"{path.name}: header needs '# expect:' and '# jsonschema:' lines")
    return Expectation(
        line=int(expect["line"]),
        path=expect["path"],
        message=expect["message"].strip(),
        jsonschema=mark["mark"],  # type: ignore[arg-type]
        why=mark["why"].strip(" #"),
    )


def invalid_paths_marked(mark: JsonSchemaMark) -> list[Path]:
    """The invalid profiles whose header carries this JSON Schema verdict."""
    return [path for path in INVALID_PATHS if expectation_of(path).jsonschema == mark]


def json_data(text: str) -> Any:
    """Profile text as the JSON data an editor's schema check sees.

    ruamel resolves unquoted dates (`expires: 2027-12-31`) to `datetime.date`, which `to_plain`
    keeps; a YAML 1.2 editor sees the same scalar as the string the schema describes.
    """
    return _dates_as_text(to_plain(load_document(text)))


def _dates_as_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _dates_as_text(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_dates_as_text(item) for item in node]
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


# Values for the keys a section cannot do without, so that a section can be written alone.
REQUIRED_VALUES: dict[str, Any] = {"port": "/dev/ttyS4", "uid": "3A7F02C1"}


@dataclass(frozen=True)
class Section:
    """A mapping a profile can contain: where it sits, its model, and a document holding it."""

    path: tuple[str | int, ...]
    model: type[BaseModel]
    skeleton: dict[str, Any]

    @property
    def fields(self) -> tuple[str, ...]:
        """The keys the section's model knows."""
        return tuple(self.model.model_fields)

    def dotted(self, key: str) -> str:
        """The dotted path of `key` in this section, as errors name it."""
        return ".".join(str(part) for part in (*self.path, key))

    def document(self, key: str, value: Any) -> dict[str, Any]:
        """A whole profile document that sets `key` in this section (and only what it needs)."""
        document = copy.deepcopy(self.skeleton)
        _node_at(document, self.path)[key] = value
        return document


def profile_sections() -> list[Section]:
    """Every section of a profile, the root first; list items at index 0; union members by tag."""
    sections: list[Section] = []

    def visit(model: type[BaseModel], path: tuple[str | int, ...], skeleton: Any) -> None:
        node = _node_at(skeleton, path)
        for name, field in model.model_fields.items():
            if field.is_required():
                node[name] = REQUIRED_VALUES[name]
        kind = model.model_fields.get("kind")
        if kind is not None:  # the union tag that selects this member
            node["kind"] = kind.default
        sections.append(Section(path, model, skeleton))
        for name, field in model.model_fields.items():
            for member, is_item in _model_members(field.annotation):
                child = copy.deepcopy(skeleton)
                _node_at(child, path)[name] = [{}] if is_item else {}
                visit(member, (*path, name, 0) if is_item else (*path, name), child)

    visit(Profile, (), {})
    return sections


def _node_at(document: Any, path: tuple[str | int, ...]) -> Any:
    node = document
    for part in path:
        node = node[part]
    return node


def _model_members(
    annotation: Any, in_sequence: bool = False
) -> list[tuple[type[BaseModel], bool]]:
    """The models an annotation can hold, and whether each sits in a list."""
    origin = typing.get_origin(annotation)
    args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
    if origin is typing.Annotated:
        return _model_members(args[0], in_sequence)
    if origin in (typing.Union, types.UnionType):
        return [member for arg in args for member in _model_members(arg, in_sequence)]
    if origin in (tuple, list):
        return [member for arg in args for member in _model_members(arg, True)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_sequence)]
    return []
