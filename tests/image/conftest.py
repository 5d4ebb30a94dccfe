"""Fixtures of the image tests: one image built from a clean cache per session (the slow part,
so these tests run last), or the one `make unit` started early (tests/image/early_build.py);
Debian's Chromium comes from tests/conftest.py. The disk's first boot is test_image's, so the
other tests that boot it run after that file, whatever their names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.image import early_build
from tests.image.machine import BuiltImage, build, make_keys

FIRST_BOOT_FILE = "tests/image/test_image.py"  # boots the fresh disk and checks what it printed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable: every image test that boots (e2e) after test_image.py's; the suite's own order
    (tests/conftest.py, which sorts after this hook) is kept otherwise."""

    def after_first_boot(item: pytest.Item) -> bool:
        nodeid = item.nodeid
        return (
            nodeid.startswith("tests/image/")
            and not nodeid.startswith(FIRST_BOOT_FILE)
            and item.get_closest_marker("e2e") is not None
        )

    items.sort(key=after_first_boot)


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """`build.py image --board qemu-x86_64` into a fresh output folder and a clean cache."""
    started_early = os.environ.get(early_build.VARIABLE)
    if started_early:
        return early_build.adopt(Path(started_early))
    root = tmp_path_factory.mktemp("image")
    return build(root / "out", root / "cache", make_keys(root / "keys"))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile for one test (downloads allowed: the debug SSH key)."""
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()
