"""The committed JSON Schema (what editors check profiles against) agrees with the models.

It accepts every example profile; it rejects each must-fail profile whose header says
`jsonschema: reject`, and accepts each marked `accept` (a rule the schema does not express),
so the markers stay honest. Format checking is off, as in most editors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from profile_cases import (
    PROFILE_PATHS,
    SCHEMA_FILE,
    expectation_of,
    invalid_paths_marked,
    json_data,
)
from ruamel.yaml.error import YAMLError

from runtime.config.yaml_io import load_document

REJECTED = invalid_paths_marked("reject")
ACCEPTED = invalid_paths_marked("accept")
NEVER_DATA = invalid_paths_marked("n/a")


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, path: Path) -> list[str]:
    data = json_data(path.read_text(encoding="utf-8"))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(profile)'}: {error.message}"
        for error in validator.iter_errors(data)
    ]


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=[p.name for p in PROFILE_PATHS])
def test_schema_accepts_example_profile(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, path) == []


@pytest.mark.parametrize("path", REJECTED, ids=[p.name for p in REJECTED])
def test_schema_rejects_profile_marked_reject(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, path), "marked `jsonschema: reject` but the schema accepts it"


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.name for p in ACCEPTED])
def test_schema_accepts_profile_marked_accept(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, path) == [], "the schema now expresses this rule: mark it reject"


@pytest.mark.parametrize("path", NEVER_DATA, ids=[p.name for p in NEVER_DATA])
def test_profile_marked_not_applicable_never_becomes_data(path: Path) -> None:
    try:
        document = load_document(path.read_text(encoding="utf-8"))
    except YAMLError:
        return
    assert document is None, "marked `jsonschema: n/a` but the YAML parses to data"


def test_every_accept_marker_says_why() -> None:
    silent = [path.name for path in ACCEPTED if not expectation_of(path).why]
    assert not silent, f"`jsonschema: accept` needs a `# why` comment: {silent}"
