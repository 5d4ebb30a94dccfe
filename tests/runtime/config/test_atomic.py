"""Atomic file replacement: a failed write never touches the target and leaves no temp file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.config.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temp_files,
    temp_prefix,
)

OLD = "current_limit_a: 32\n"
NEW = "current_limit_a: 16\n"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(OLD)
    return path


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def test_write_replaces_the_content(target: Path) -> None:
    atomic_write_text(target, NEW)

    assert target.read_text() == NEW
    assert sorted(target.parent.iterdir()) == [target]


def test_write_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "new.bin"

    atomic_write_bytes(path, b"\x00\x01")

    assert path.read_bytes() == b"\x00\x01"


@pytest.mark.usefixtures("strict_umask")
def test_mode_is_applied_whatever_the_umask(target: Path) -> None:
    atomic_write_text(target, NEW, mode=0o640)

    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failed_rename_leaves_the_target_untouched_and_no_temp_file(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError("simulated power loss before the rename")

    monkeypatch.setattr(os, "replace", broken_replace)

    with pytest.raises(OSError, match="simulated power loss"):
        atomic_write_text(target, NEW)

    assert target.read_text() == OLD
    assert sorted(target.parent.iterdir()) == [target]


def test_failure_while_writing_the_temp_file_leaves_the_target_untouched(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("simulated I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)

    with pytest.raises(OSError, match="simulated I/O error"):
        atomic_write_text(target, NEW)

    assert target.read_text() == OLD
    assert sorted(target.parent.iterdir()) == [target]


def test_file_is_synced_before_the_rename_and_the_directory_after(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def spy_replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)

    atomic_write_text(target, NEW)

    assert events == ["fsync file", "replace", "fsync dir"]


def test_temp_files_are_hidden_from_profile_globs(target: Path) -> None:
    prefix = temp_prefix(target)

    assert prefix.startswith(".")
    assert not prefix.endswith(".yaml")
    (target.parent / f"{prefix}abc123").write_text("half a profi")
    assert sorted(target.parent.glob("*.yaml")) == [target]


def test_stale_temp_files_of_this_file_are_removed_and_nothing_else(target: Path) -> None:
    directory = target.parent
    stale = [directory / f"{temp_prefix(target)}{suffix}" for suffix in ("a1b2c3", "zz")]
    for path in stale:
        path.write_text("half a profi")
    others = [directory / ".other.yaml.tmp-a1b2c3", directory / "profile.yaml.bak"]
    for path in others:
        path.write_text("keep")

    removed = remove_stale_temp_files(target)

    assert sorted(removed) == sorted(stale)
    assert sorted(directory.iterdir()) == sorted([target, *others])
