"""What every build step shares: the inputs, the output folders, the build log and a command
runner that logs each command with its output, so a failed step says what failed and where.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from schemas.image import Board

# A clean environment for everything run inside the target (no host pip/venv settings leak in).
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "PIP_CONFIG_FILE": "/dev/null",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class BuildError(RuntimeError):
    """A build step failed; the message says which command and where the log is."""


@dataclass
class BuildLog:
    """The build log file (every command and its output) plus the figures steps report."""

    file: TextIO
    figures: dict[str, object] = field(default_factory=dict)

    def write(self, text: str) -> None:
        """Append text to the log."""
        self.file.write(text if text.endswith("\n") else text + "\n")
        self.file.flush()


@dataclass
class BuildContext:
    """The inputs and places of one image build."""

    repo: Path
    board: Board
    board_dir: Path  # image/boards/<board>
    image_dir: Path  # image/
    profile: Path
    out_dir: Path  # out/<board>
    cache_dir: Path
    source_date_epoch: int
    version: str
    log: BuildLog
    min_version: str = ""  # the version floor of the system (empty: its own version)
    keys_dir: Path | None = None  # the public keys (*.pub) the image trusts for updates

    @property
    def work_dir(self) -> Path:
        """Scratch space, rebuilt on every build."""
        return self.out_dir / "work"

    @property
    def target_dir(self) -> Path:
        """The root filesystem being assembled (Buildroot's TARGET_DIR)."""
        return self.work_dir / "rootfs"

    @property
    def binaries_dir(self) -> Path:
        """Where the images end up (Buildroot's BINARIES_DIR)."""
        return self.out_dir

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of host commands: reproducible time, plus `extra`."""
        environment = dict(os.environ)
        environment["SOURCE_DATE_EPOCH"] = str(self.source_date_epoch)
        environment["LC_ALL"] = "C.UTF-8"
        environment.update(extra or {})
        return environment

    def run(
        self,
        command: Sequence[str | Path],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        cwd: Path | None = None,
    ) -> str:
        """Run a host command, log it with its output, fail with a BuildError naming it."""
        argv = [str(part) for part in command]
        self.log.write(f"$ {' '.join(argv)}")
        started = time.monotonic()
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            env=dict(env) if env is not None else self.env(),
            cwd=cwd,
            check=False,
        )
        output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
        if output:
            self.log.write(output)
        self.log.write(f"# exit {result.returncode} after {time.monotonic() - started:.1f} s")
        if result.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise BuildError(f"{argv[0]} failed (exit {result.returncode}):\n{tail}")
        return result.stdout.decode("utf-8", errors="replace")

    def chroot(self, *command: str) -> str:
        """Run a command inside the target root filesystem with a clean environment."""
        environment = {**CHROOT_ENV, "SOURCE_DATE_EPOCH": str(self.source_date_epoch)}
        return self.run(["chroot", str(self.target_dir), *command], env=environment)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: Path) -> str:
    """One SHA-256 over a directory's relative paths, modes and file contents."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        digest.update(f"{relative}\0{path.lstat().st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()
