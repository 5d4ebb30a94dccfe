"""Fixtures of the image tests: one image built from a clean cache per session (the slow part,
so these tests run last), and Debian's Chromium for the configurator inside the guest."""

from __future__ import annotations

import pytest

from tests.image.machine import BuiltImage, build, make_keys
from tests.webui.conftest import browser  # noqa: F401  (the same session-wide Chromium)


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """`build.py image --board qemu-x86_64` into a fresh output folder and a clean cache."""
    root = tmp_path_factory.mktemp("image")
    return build(root / "out", root / "cache", make_keys(root / "keys"))
