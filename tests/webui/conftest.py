"""Fixtures of the web configurator tests.

`site`: the app in this process (fast, fake clock, cheap password hashes). `stack`: the whole
ChargeOS stack under supervisord on free loopback ports, once per session (e2e tests only).
`browser` (tests/conftest.py): Debian's Chromium, one for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webui.inprocess import Site, open_site
from tests.webui.stack import Stack, start_stack, stop_stack

REPO = Path(__file__).resolve().parents[2]


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
def screenshot_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """Where screenshots go: the pytest temp directory and out/screenshots (git-ignored)."""
    folders = (tmp_path_factory.mktemp("screenshots"), REPO / "out" / "screenshots")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders
