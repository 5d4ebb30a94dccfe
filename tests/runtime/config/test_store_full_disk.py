"""The config store on a real full disk: a refused write drops the edit, the store goes back to
the file, and the error says what happened and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime.config.store import ConfigStore, ProfileNotSaved
from tests.runtime.config.small_disk import fill, small_tmpfs

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"
DEFAULT = REPO / "profiles" / "three-phase-22kw-ocpp16.yaml"


def test_a_save_on_a_full_disk_drops_the_edit_and_the_next_save_writes_only_its_own(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", 256 * 1024) as disk:
        path = disk / "profile.yaml"
        shutil.copyfile(SIMULATED, path)
        store = ConfigStore.open(path)
        before = path.read_text()
        filler = fill(disk)
        with pytest.raises(ProfileNotSaved) as refused:
            store.apply({"electrical.current_limit_a": 16})
        assert str(refused.value).startswith(
            f"The settings were not saved: the data partition refused the write of {path}"
            " (No space left on device); nothing was changed."
        )
        assert store.get("electrical.current_limit_a") == 32 and store.text == before
        assert path.read_text() == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "profile.yaml"]  # no temp file

        with pytest.raises(ProfileNotSaved):
            store.reset_to(DEFAULT.read_text())
        assert store.text == before and path.read_text() == before

        filler.unlink()
        store.apply({"system.timezone": "Europe/Berlin"})
        written = path.read_text()
        assert "timezone: Europe/Berlin" in written and "current_limit_a: 32" in written
