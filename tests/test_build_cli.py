"""build.py's profile commands as a firmware engineer uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import build


def test_schema_command_writes_the_schema_an_editor_loads(tmp_path: Path) -> None:
    output = tmp_path / "profile.schema.json"
    assert build.main(["schema", "--output", str(output)]) == 0
    schema = json.loads(output.read_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert "electrical" in schema["properties"]


def test_validate_reports_a_missing_file_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert build.main(["validate", str(missing)]) == 1
    assert f"{missing}:1:1: (file): cannot read the profile" in capsys.readouterr().out


def test_validate_reports_yaml_syntax_errors_with_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("electrical:\n  phases: [3\n  current_limit_a: 16\n")
    assert build.main(["validate", str(broken)]) == 1
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"{broken}:") and "(yaml)" in line
