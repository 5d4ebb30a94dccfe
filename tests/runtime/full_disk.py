"""A small, real data partition for tests: a tmpfs mounted on a directory, filled and freed.

SQLite then meets a real ENOSPC (SQLITE_FULL), not a mock. Mounting needs root (as `make test`
runs); the mount is always undone when the context ends, whatever the test did.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

PARTITION_BYTES = 4 * 1024 * 1024  # room for the schema and a few sessions' WAL frames
FILL_CHUNK_BYTES = 64 * 1024


class DataPartition:
    """A mounted tmpfs that can be filled to the last byte and freed again."""

    def __init__(self, mount_point: Path) -> None:
        self.mount_point = mount_point
        self._filler = mount_point / "filler"

    @property
    def full(self) -> bool:
        """The filler file holds the partition's free space."""
        return self._filler.exists()

    def fill(self) -> None:
        """Take every free byte with a filler file (writes hit ENOSPC afterwards)."""
        descriptor = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * FILL_CHUNK_BYTES
            while True:
                os.write(descriptor, chunk)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
        finally:
            os.close(descriptor)
        _fill_tail(self._filler)

    def free(self) -> None:
        """Delete the filler: the space is back."""
        self._filler.unlink(missing_ok=True)


def _fill_tail(filler: Path) -> None:
    """Top up byte by byte so not even a partial page is left."""
    descriptor = os.open(filler, os.O_WRONLY | os.O_APPEND)
    try:
        for size in (4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def small_data_partition(
    mount_point: Path, size_bytes: int = PARTITION_BYTES
) -> Iterator[DataPartition]:
    """Mount a tmpfs of `size_bytes` on `mount_point` for the duration of the context."""
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(mount_point)],
        check=True,
        capture_output=True,
    )
    try:
        yield DataPartition(mount_point)
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True, capture_output=True)
