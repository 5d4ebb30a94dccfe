"""Suite-wide fixtures and ordering: fast file-level tests first, slow ones (crash, soak, boots)
last; one browser for the whole session; `--part` to run the file-level tests or the image's
build-and-boot tests alone.

A failure in a quick test shows within the first minutes of CI instead of after the slow ones
(the image build and its boots take the longest). `make unit` runs the file-level part on every
core (pytest-xdist) and then the image part in one process, in order: its tests share one disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (Makefile APT_PACKAGES)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


IMAGE_WEIGHT = 3
PARTS = ("files", "image")  # --part: the file-level tests, or the image's builds and boots


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=PARTS,
        help="only the file-level tests (parallel-safe) or only the image's builds and qemu "
        "boots (one process, in order); both when not given",
    )


def weight(item: pytest.Item) -> int:
    """0 unmarked, 1 `slow`, 2 `e2e`, 3 an image test that builds or boots (tests/image, e2e)."""
    if item.get_closest_marker("e2e") is not None:
        return IMAGE_WEIGHT if item.nodeid.startswith("tests/image/") else 2
    return 1 if item.get_closest_marker("slow") is not None else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stable sort: unmarked tests keep their order, `slow` then `e2e` go to the end, and the
    image's builds and qemu boots last of all; `--part` keeps one side of that line."""
    items.sort(key=weight)
    part = config.getoption("--part")
    if part is None:
        return
    wanted = [item for item in items if (weight(item) == IMAGE_WEIGHT) == (part == "image")]
    config.hook.pytest_deselected(items=[item for item in items if item not in wanted])
    items[:] = wanted


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
