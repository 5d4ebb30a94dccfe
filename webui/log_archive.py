"""System Logs for a service ticket: one .tar.gz of the log directory plus a few texts.

Logs keep being written while the archive is made; a file that shrinks meanwhile is padded,
so the archive is never broken.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO


def build_log_archive(log_dir: Path, work_dir: Path, root: str, extra: Mapping[str, str]) -> Path:
    """A .tar.gz in `work_dir` of `extra` texts and every file under `log_dir`, below `root`/."""
    handle, name = tempfile.mkstemp(prefix="logs-", suffix=".tar.gz", dir=work_dir)
    path = Path(name)
    skipped = []
    try:
        with os.fdopen(handle, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            for member, text in extra.items():
                _add(archive, f"{root}/{member}", text.encode("utf-8"))
            files = sorted(log_dir.rglob("*")) if log_dir.is_dir() else []
            for file in files:
                if not file.is_file() or file.is_symlink():
                    continue
                try:
                    _add_snapshot(archive, file, f"{root}/log/{file.relative_to(log_dir)}")
                except OSError as error:  # rotated away meanwhile, unreadable
                    skipped.append(f"{file.relative_to(log_dir)}: {error.strerror}\n")
            if skipped:
                _add(archive, f"{root}/skipped.txt", "".join(skipped).encode("utf-8"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    archive.addfile(info, _Exactly(io.BytesIO(data), len(data)))


def _add_snapshot(archive: tarfile.TarFile, file: Path, name: str) -> None:
    with file.open("rb") as source:  # an OSError here comes before any byte is written
        stat = os.fstat(source.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = stat.st_size, 0o644, int(stat.st_mtime)
        archive.addfile(info, _Exactly(source, stat.st_size))


class _Exactly:
    """A file read as exactly `size` bytes: a log truncated meanwhile is padded, never short."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file, self._left = file, size

    def read(self, size: int = -1, /) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = self._file.read(wanted)
        self._left -= wanted
        return data + b"\0" * (wanted - len(data))
