"""A small tmpfs for tests that need a real full or failing disk (root only, as on the rigs).

`small_tmpfs` mounts one at a directory for the block and unmounts it afterwards, whatever
happened; `fill` writes a file until the kernel answers ENOSPC, so the next write fails for real.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = b"\0" * 4096  # one tmpfs page


@contextmanager
def small_tmpfs(mount_point: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of `size_bytes` mounted at `mount_point` for the block."""
    mount_point.mkdir(parents=True, exist_ok=True)
    options = f"size={size_bytes},mode=0755"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(directory: Path) -> Path:
    """Fill the filesystem of `directory` to the last page; the filler file (delete it to free)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as stream:
        while True:
            try:
                stream.write(CHUNK)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                return filler
