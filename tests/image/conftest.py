"""Fixtures of the image tests: one image built from a clean cache per session (the slow part,
so these tests run last); Debian's Chromium comes from tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.image.machine import BuiltImage, build, make_keys


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """`build.py image --board qemu-x86_64` into a fresh output folder and a clean cache."""
    root = tmp_path_factory.mktemp("image")
    return build(root / "out", root / "cache", make_keys(root / "keys"))
