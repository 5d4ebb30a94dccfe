"""A settings save that the disk refuses: the page answers with the error beside the form, the
store keeps nothing of the edit (pages and the next save see the profile on disk), and once the
disk has room again the next save writes only its own change. A real full tmpfs, not a mock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.config.small_disk import fill, small_tmpfs
from tests.webui.inprocess import Site, open_site

DISK_BYTES = 2 * 1024 * 1024  # the profile, the device secrets and the TLS files fit easily
LIMIT_INPUT = re.compile(r'name="electrical\.current_limit_a"[^>]*value="(\d+)"')


@pytest.fixture
def full_site(tmp_path: Path) -> Iterator[Site]:
    """The configurator on a data directory of its own small tmpfs."""
    with small_tmpfs(tmp_path / "disk", DISK_BYTES) as disk:
        opened = open_site(disk / "data")
        try:
            yield opened
        finally:
            opened.close()


def shown_limit(page: str) -> int:
    found = LIMIT_INPUT.search(page)
    assert found is not None, "no Charger Current Limit input on the page"
    return int(found.group(1))


def test_a_save_the_disk_refuses_answers_the_page_and_keeps_nothing(full_site: Site) -> None:
    site = full_site
    installer = site.logged_in("installer")
    on_disk = site.profile_path.read_text()
    assert "current_limit_a: 32" in on_disk
    filler = fill(site.data_dir)

    installer.get("/installer")
    answer = installer.post("/installer", {"form": "charger", "electrical.current_limit_a": "16"})
    assert answer.status == 503, answer.text
    assert "The settings were not saved: the data partition refused the write" in answer.text
    assert "No space left on device" in answer.text
    assert shown_limit(answer.text) == 16  # what was typed stays in the form, to try again
    assert site.profile_path.read_text() == on_disk
    assert site.store.get("electrical.current_limit_a") == 32  # the store kept nothing
    assert shown_limit(installer.get("/installer").text) == 32

    filler.unlink()  # room again: the next save writes its own change, not the lost one
    installer.get("/installer")
    saved = installer.post("/installer", {"form": "timezone", "system.timezone": "Europe/Berlin"})
    assert saved.status == 200, saved.text
    written = site.profile_path.read_text()
    assert "timezone: Europe/Berlin" in written and "current_limit_a: 32" in written


def test_reset_to_default_on_a_full_disk_says_so_and_changes_nothing(full_site: Site) -> None:
    site = full_site
    site.store.apply({"electrical.current_limit_a": 20})  # differs from the default profile
    installer = site.logged_in("installer")
    on_disk = site.profile_path.read_text()
    fill(site.data_dir)
    installer.get("/installer")
    answer = installer.post("/installer/reset")
    assert answer.status == 503, answer.text
    assert "The settings were not saved: the data partition refused the write" in answer.text
    assert site.profile_path.read_text() == on_disk
    assert site.store.get("electrical.current_limit_a") == 20
