"""The system version: an image's own (its system.json), else the package's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import version


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    version.chargeos_version.cache_clear()
    yield
    version.chargeos_version.cache_clear()


def test_an_image_reports_the_version_it_was_built_as(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system.json"
    system.write_text(json.dumps({"version": "0.2.0", "compatible": "chargeos,qemu-x86_64"}))
    monkeypatch.setattr(version, "SYSTEM_FILE", system)
    assert version.chargeos_version() == "0.2.0"


def test_a_checkout_reports_the_package_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version, "SYSTEM_FILE", tmp_path / "missing.json")
    assert version.chargeos_version().count(".") == 2
