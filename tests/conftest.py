"""Suite-wide fixtures and ordering: fast file-level tests first, slow ones (crash, soak, boots)
last; one browser for the whole session.

A failure in a quick test shows within the first minutes of CI instead of after the slow ones
(the image build and its boots take the longest).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (Makefile APT_PACKAGES)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort: unmarked tests keep their order, `slow` then `e2e` go to the end, and the
    image's builds and qemu boots last of all."""

    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("e2e") is not None:
            return 3 if item.nodeid.startswith("tests/image/") else 2
        return 1 if item.get_closest_marker("slow") is not None else 0

    items.sort(key=weight)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian, driven by Playwright; no browser is ever downloaded.

    One per session: Playwright's sync API allows one running instance per thread, so the
    configurator tests and the image tests share it.
    """
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
