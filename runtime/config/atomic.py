"""Crash-safe file replacement: a reader sees the old file or the new one, never a mix.

Write a hidden temp file beside the target, fsync it, rename it over the target, fsync the
directory. Temp files a crash leaves behind are dot-files that never match a profile glob.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644


def temp_prefix(path: Path) -> str:
    """The name prefix of temp files written for `path`, e.g. `.default.yaml.tmp-`."""
    return f".{path.name}.tmp-"


def atomic_write_bytes(path: Path, data: bytes, mode: int = DEFAULT_MODE) -> None:
    """Replace `path` with `data` atomically and durably; on failure the target is untouched."""
    directory = path.parent
    # mkstemp opens with O_CREAT | O_EXCL and mode 0600: no other process can share the file,
    # and a secret is never readable by others before the final chmod.
    fd, temp_name = tempfile.mkstemp(prefix=temp_prefix(path), dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(directory)


def atomic_write_text(path: Path, text: str, mode: int = DEFAULT_MODE) -> None:
    """Replace `path` with UTF-8 `text` atomically and durably (see atomic_write_bytes)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete temp files that an interrupted write of `path` left behind; returns them."""
    prefix = temp_prefix(path)
    removed: list[Path] = []
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                stale = Path(entry.path)
                stale.unlink(missing_ok=True)
                log.warning("removed %s left by an interrupted write of %s", stale, path)
                removed.append(stale)
    if removed:
        fsync_directory(path.parent)
    return removed
