"""Fixtures of the web configurator tests.

`site`: the app in this process (fast, fake clock, cheap password hashes). `stack`: the whole
ChargeOS stack under supervisord on free loopback ports, once per session (e2e tests only).
`browser`: Debian's Chromium driven by Playwright from PyPI; no browser is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.webui.inprocess import Site, open_site
from tests.webui.stack import Stack, start_stack, stop_stack

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (Makefile APT_PACKAGES)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The configurator app served in-process from a freshly provisioned data directory."""
    opened = open_site(tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """sim + evse + webapp under supervisord, as `make run` starts them (short socket paths)."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian, driven by Playwright."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshot_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """Where screenshots go: the pytest temp directory and out/screenshots (git-ignored)."""
    folders = (tmp_path_factory.mktemp("screenshots"), REPO / "out" / "screenshots")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders
