"""GRUB's environment block: the A/B boot state both GRUB and the updater read and write.

The file is exactly 1024 bytes: a header line, `name=value` lines, `#` padding. GRUB's `save_env`
rewrites the blocks in place, so the device does the same (one 1024-byte write and fsync) instead
of replacing the file: a rename on vfat is not atomic and would move the blocks GRUB found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HEADER = b"# GRUB Environment Block\n"
BLOCK_SIZE = 1024


class GrubEnvError(ValueError):
    """The environment block is damaged or would not fit."""


def render(variables: Mapping[str, str]) -> bytes:
    """The 1024-byte block holding `variables` in the given order."""
    body = bytearray(HEADER)
    for name, value in variables.items():
        if not name.replace("_", "").isalnum() or "\n" in value or "\\" in value:
            raise GrubEnvError(f"grubenv: {name}={value!r} cannot be stored")
        body += f"{name}={value}\n".encode()
    if len(body) > BLOCK_SIZE:
        raise GrubEnvError(f"grubenv: {len(body)} bytes of variables do not fit in {BLOCK_SIZE}")
    return bytes(body) + b"#" * (BLOCK_SIZE - len(body))


def parse(block: bytes, source: str = "grubenv") -> dict[str, str]:
    """The variables of a block; a wrong size or header is an error naming `source`."""
    if len(block) != BLOCK_SIZE or not block.startswith(HEADER):
        raise GrubEnvError(f"{source}: not a GRUB environment block ({len(block)} bytes)")
    variables: dict[str, str] = {}
    for line in block[len(HEADER) :].decode("ascii", errors="replace").split("\n"):
        if line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        variables[name] = value
    return variables


def read(path: Path) -> dict[str, str]:
    """The variables in the environment file at `path`."""
    return parse(path.read_bytes(), str(path))


def create(path: Path, variables: Mapping[str, str]) -> None:
    """Write a new environment file (build time: the file does not exist yet)."""
    path.write_bytes(render(variables))


def update(path: Path, changes: Mapping[str, str]) -> dict[str, str]:
    """Change some variables in place, in one write of the whole block; return the new set."""
    with path.open("r+b") as file:
        variables = parse(file.read(), str(path))
        variables.update(changes)
        block = render(variables)
        file.seek(0)
        file.write(block)
        file.flush()
        os.fsync(file.fileno())
    return variables
