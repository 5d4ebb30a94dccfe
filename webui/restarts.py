"""Restarting the charger from the web app: only a built ChargeOS image reboots its machine.

In development (`make run`) "restart OS" restarts the ChargeOS programs instead, and an update
never installs, so nothing here reboots a developer's computer. On an image the services' user
may not reboot: the privileged helper does it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from runtime.privileged.client import HelperClient, HelperError

log = logging.getLogger(__name__)

IMAGE_MARKER = Path("/etc/chargeos-image")  # written into a built image's root filesystem
IMAGE_ENV = "CHARGEOS_IMAGE"
REBOOT_COMMAND = ("systemctl", "reboot")


def running_image(marker: Path = IMAGE_MARKER, environ: Mapping[str, str] = os.environ) -> bool:
    """True on a built ChargeOS image (reboot allowed), False in development."""
    return environ.get(IMAGE_ENV) == "1" or marker.exists()


async def reboot() -> str:
    """Reboot this machine (the caller checked running_image()); what happened, in words."""
    result = await asyncio.to_thread(subprocess.run, REBOOT_COMMAND, check=False, timeout=60)
    return f"reboot requested (exit status {result.returncode})"


async def reboot_image(helper_socket: Path | None = None) -> str:
    """Reboot on an image (through the privileged helper when it has one); in development say
    why nothing happened."""
    if not running_image():
        return "not a ChargeOS image: no reboot"
    if helper_socket is not None:
        try:
            return (await HelperClient(helper_socket).reboot()).message
        except HelperError as error:
            log.error("reboot failed: %s", error)
            return f"reboot failed: {error}"
    try:
        return await reboot()
    except (OSError, subprocess.SubprocessError) as error:
        log.error("reboot failed: %s", error)
        return f"reboot failed: {error}"
