"""The wheels the image's venv is installed from: the locked dependency wheels (downloaded once,
cached by the lock file's hash) and ChargeOS's own wheel, built for the board from the device
packages only. The simulator (runtime/sim) goes in only where the board runs it.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from image.builder.context import BuildContext, BuildError, sha256_file
from schemas.image import Board

DEVICE_PACKAGES = ("schemas", "runtime", "webui")  # what runs on the device; nothing else ships
SIMULATOR = Path("runtime") / "sim"
PLATFORM_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l"}


def make_wheels(ctx: BuildContext) -> None:
    """The locked dependency wheels (cached by the lock file's hash) and ChargeOS's own wheel."""
    ctx.log.figures["wheels_dir"] = str(dependency_wheels(ctx))
    ctx.log.figures["app_wheel"] = str(build_app_wheel(ctx))


def dependency_wheels(ctx: BuildContext) -> Path:
    """The folder of the locked wheels for the board's architecture, downloaded unless cached."""
    lock = ctx.repo / "requirements.lock"
    key = sha256_file(lock)[:16]
    wheels = ctx.cache_dir / f"wheels-{ctx.board.debian.architecture}-{key}"
    if wheels.exists():
        return wheels
    partial = wheels.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    arch = PLATFORM_ARCH[ctx.board.debian.architecture]
    ctx.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--no-deps",
            "--require-hashes",
            # Any manylinux wheel up to glibc 2.36, bookworm's.
            *(f"--platform=manylinux_2_{minor}_{arch}" for minor in range(17, 37)),
            f"--platform=manylinux2014_{arch}",
            "--python-version=3.11",
            "--implementation=cp",
            "--abi=cp311",
            "--abi=abi3",
            "--abi=none",
            "-r",
            lock,
            "-d",
            partial,
        ]
    )
    partial.rename(wheels)
    return wheels


def left_out(board: Board) -> tuple[Path, ...]:
    """Source folders of the device packages that the board's wheel leaves out."""
    return () if board.simulator else (SIMULATOR,)


def build_app_wheel(ctx: BuildContext) -> Path:
    """ChargeOS's wheel for the board, carrying the system's version; returns its path."""
    app_wheels = ctx.work_dir / "app-wheel"
    source = ctx.work_dir / "app-source"
    for directory in (app_wheels, source):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    # Only committed-style sources: a copy keeps setuptools' build/ and egg-info out of the repo.
    for name in DEVICE_PACKAGES:
        shutil.copytree(
            ctx.repo / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    for folder in left_out(ctx.board):
        shutil.rmtree(source / folder)
    shutil.copy2(ctx.repo / "README.md", source / "README.md")
    # The package carries the system's version (build.py image --version), not pyproject's.
    pyproject = (ctx.repo / "pyproject.toml").read_text(encoding="utf-8")
    pyproject, count = re.subn(
        r'^version = ".*"$', f'version = "{ctx.version}"', pyproject, count=1, flags=re.MULTILINE
    )
    if count != 1:
        raise BuildError("pyproject.toml has no `version = ...` line in [project]")
    (source / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    ctx.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            app_wheels,
            source,
        ],
        cwd=source,
    )
    return next(app_wheels.glob("chargeos-*.whl"))
