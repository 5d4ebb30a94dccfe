"""Must-fail profiles: each file in invalid/ breaks exactly one rule or bound.

The loader and `build.py validate` must both report that one error at the line, dotted path
and message the file's `# expect:` header names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from profile_cases import INVALID_PATHS, expectation_of, profile_sections
from pydantic import ValidationError
from ruamel.yaml.error import YAMLError

import build
from runtime.config.errors import ProfileInvalid
from runtime.config.loader import parse_profile
from runtime.config.yaml_io import load_document, to_plain
from schemas import Profile
from schemas.base import ProfileModel, RuleViolations

LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<msg>.+)$")
MIN_INVALID_PROFILES = 30
INVALID_IDS = [path.name for path in INVALID_PATHS]


@pytest.mark.parametrize("path", INVALID_PATHS, ids=INVALID_IDS)
def test_loader_reports_exactly_the_expected_error(path: Path) -> None:
    expected = expectation_of(path)
    with pytest.raises(ProfileInvalid) as caught:
        parse_profile(path.read_text(encoding="utf-8"), str(path))
    errors = caught.value.errors
    listing = "\n".join(str(error) for error in errors)
    assert len(errors) == 1, f"one defect per file, so one error; got:\n{listing}"
    (error,) = errors
    assert error.source == str(path)
    assert (error.line, error.path) == (expected.line, expected.path), listing
    assert expected.message in error.message, listing


@pytest.mark.parametrize("path", INVALID_PATHS, ids=INVALID_IDS)
def test_build_validate_prints_the_located_error(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = expectation_of(path)
    assert build.main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    matches = [LOCATED.match(line) for line in lines]
    assert lines, "build.py validate printed nothing for an invalid profile"
    assert all(matches), f"every line must read FILE:LINE:COL: path: message, got {lines}"
    assert any(
        match["file"] == str(path)
        and int(match["line"]) == expected.line
        and match["path"] == expected.path
        and expected.message in match["msg"]
        for match in matches
        if match is not None
    ), "\n".join(lines)


def test_there_are_enough_invalid_profiles() -> None:
    assert len(INVALID_PATHS) >= MIN_INVALID_PROFILES


def test_no_two_invalid_profiles_expect_the_same_error() -> None:
    seen: dict[tuple[str, str], str] = {}
    for path in INVALID_PATHS:
        expected = expectation_of(path)
        key = (expected.path, expected.message)
        assert key not in seen, f"{path.name} repeats the expectation of {seen[key]}"
        seen[key] = path.name


def test_every_cross_field_rule_has_a_must_fail_profile() -> None:
    rules = {
        name
        for section in profile_sections()
        if issubclass(section.model, ProfileModel)
        for name in section.model._rule_names
    }
    broken = {rule for path in INVALID_PATHS for rule in _rules_broken_by(path)}
    assert not rules - broken, f"rules no invalid profile breaks: {sorted(rules - broken)}"


def _rules_broken_by(path: Path) -> set[str]:
    """Names of the cross-field rules the profile at `path` breaks."""
    try:
        document = load_document(path.read_text(encoding="utf-8"))
    except YAMLError:
        return set()
    try:
        Profile.model_validate(to_plain(document))
    except ValidationError as error:
        causes = [(detail.get("ctx") or {}).get("error") for detail in error.errors()]
        return {
            violation.rule
            for cause in causes
            if isinstance(cause, RuleViolations)
            for violation in cause.violations
        }
    return set()
