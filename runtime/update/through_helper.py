"""The updater CLI on a device: install and activate go through the privileged helper, as the
webapp's do, because the services' user may not write a slot or GRUB's environment.

The zip is staged in the helper's uploads directory under a name chosen here (copied, unless it
is already there), the helper verifies it itself before writing, and the staged copy is removed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from runtime.privileged.client import HelperClient, HelperError
from runtime.privileged.protocol import UPLOAD_NAME_PATTERN, Reply

UPLOADS_DIR = Path("/data/uploads")  # the webapp's and the helper's


def staged_copy(zip_path: Path, uploads_dir: Path) -> Path:
    """The zip as a file of the uploads directory with a name the helper accepts."""
    resolved = zip_path.resolve()
    in_uploads = resolved.parent == uploads_dir.resolve()
    if in_uploads and re.fullmatch(UPLOAD_NAME_PATTERN, zip_path.name):
        return resolved
    staged = uploads_dir / f"cli-{secrets.token_hex(8)}.zip"
    shutil.copyfile(zip_path, staged)
    return staged


def install(
    zip_path: Path,
    socket_path: Path,
    uploads_dir: Path,
    *,
    activate: bool,
    progress: Callable[[str, float], None],
) -> Reply:
    """Stage the zip, have the helper install it, remove what was staged; HelperError or
    OSError when it was not installed."""
    staged = staged_copy(zip_path, uploads_dir)
    try:
        client = HelperClient(socket_path)
        return asyncio.run(client.install(staged.name, activate=activate, progress=progress))
    finally:
        if staged != zip_path.resolve():
            staged.unlink(missing_ok=True)


def activate(socket_path: Path) -> Reply:
    """Have the helper activate the update it installed; HelperError when it cannot."""
    return asyncio.run(HelperClient(socket_path).activate())


__all__ = ["UPLOADS_DIR", "HelperError", "activate", "install", "staged_copy"]
