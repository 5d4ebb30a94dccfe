"""`python -m tests.image.early_build DIR`: the image tests' clean-cache build, started by
`make unit` before the file-level tests so that its downloads and steps overlap them; the
`built_image` fixture then takes it from DIR (CHARGEOS_EARLY_BUILD) instead of building again.

DIR gets keys/, cache/, out/, the build's output (build.out, build.err) and, last, its exit
status (build.rc): the file that says the build is over.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.image.machine import (
    BUILD_TIMEOUT_S,
    REPO,
    BuiltImage,
    build_command,
    built_from,
)

VARIABLE = "CHARGEOS_EARLY_BUILD"
POLL_S = 1.0
TIMED_OUT = 124  # timeout(1)'s status: the build did not end within BUILD_TIMEOUT_S


def paths(folder: Path) -> tuple[Path, Path, Path]:
    """The build's output, cache and keys folders under `folder`."""
    return folder / "out", folder / "cache", folder / "keys"


def run(folder: Path) -> int:
    """Build into `folder` (outside the repository: it holds a signing key) from an empty
    cache; the exit status of the first command that failed (or 0), also in build.rc, which is
    written whatever happens."""
    folder.mkdir(parents=True, exist_ok=True)
    out, cache, keys = paths(folder)
    # The key's messages go with the errors: build.out is `build.py image`'s output alone.
    commands = ([sys.executable, "build.py", "keys", "--keys-dir", str(keys)],
                build_command(out, cache, keys))  # fmt: skip
    status = TIMED_OUT
    try:
        with (
            (folder / "build.out").open("wb") as stdout,
            (folder / "build.err").open("wb") as stderr,
        ):
            for command, output in zip(commands, (stderr, stdout), strict=True):
                status = subprocess.run(
                    command, cwd=REPO, stdout=output, stderr=stderr, timeout=BUILD_TIMEOUT_S,
                    check=False,
                ).returncode  # fmt: skip
                if status != 0:
                    break
    except subprocess.TimeoutExpired:
        status = TIMED_OUT
    finally:
        (folder / "build.rc").write_text(f"{status}\n")
    return status


def adopt(folder: Path, timeout_s: float = BUILD_TIMEOUT_S) -> BuiltImage:
    """The build `run` makes in `folder`, once it is over; fails with its output."""
    done = folder / "build.rc"
    waited_s = 0.0
    while not done.exists():
        assert waited_s < timeout_s, f"{folder}: the early build did not end in {timeout_s:g} s"
        time.sleep(POLL_S)
        waited_s += POLL_S
    stdout = (folder / "build.out").read_text(errors="replace")
    status = done.read_text().strip()
    assert status == "0", (
        f"the early image build in {folder} failed (exit {status}):\n"
        + stdout
        + (folder / "build.err").read_text(errors="replace")
    )
    return built_from(*paths(folder), stdout)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
