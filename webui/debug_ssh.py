"""Debug SSH as the Admin page drives it: the Service Control row's real state, start/restart/stop
through the privileged helper, the security event of every start, the installer's public keys.

Only a device has debug SSH (its image carries the sshd unit and the helper); under `make run`
every part of it says so plainly and nothing pretends to start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from runtime.config.debug_ssh_keys import (
    PublicKey,
    PublicKeyInvalid,
    device_key_path,
    load_installer_keys,
    save_installer_keys,
)
from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.persistence.database import Database
from runtime.persistence.errors import PersistenceError
from runtime.persistence.event_log import EventLevel, EventLog
from runtime.privileged.client import HelperClient, HelperError
from runtime.privileged.debug_ssh import DebugSshAction
from webui.context import WebSettings

log = logging.getLogger(__name__)

ONLY_ON_A_DEVICE = (
    "Debug SSH exists only on a ChargeOS device (a built image), not under make run:"
    " nothing was started."
)
ROW_ONLY_ON_A_DEVICE = "only on a ChargeOS device, not under make run"
STARTED_CODE = "debug_ssh_started"
KEY_FILE_NAME = "chargeos-debug-{identity}.key"
# systemd's active states as Service Control shows supervisord's
SHOWN_STATES = {
    "active": "RUNNING",
    "inactive": "STOPPED",
    "failed": "FAILED",
    "activating": "STARTING",
    "deactivating": "STOPPING",
}


@dataclass(frozen=True)
class DebugSshView:
    """What the Admin page shows of debug SSH."""

    on_device: bool
    state: str  # as the Service Control badge shows it
    installer_keys: tuple[PublicKey, ...]
    keys_problem: str | None  # the stored keys do not validate (shown, never used)
    key_name: str  # the device key's download name


def on_device(settings: WebSettings) -> bool:
    """Whether this webapp runs on a device with the privileged helper (and so debug SSH)."""
    return settings.helper_socket is not None


async def view(settings: WebSettings) -> DebugSshView:
    """The row's state from the helper (never assumed) and the installer's keys."""
    if settings.helper_socket is None:
        return DebugSshView(False, ROW_ONLY_ON_A_DEVICE, (), None, "")
    try:
        reply = await HelperClient(settings.helper_socket).debug_ssh("status")
        state = SHOWN_STATES.get(reply.debug_ssh or "", (reply.debug_ssh or "unknown").upper())
    except HelperError as error:
        log.warning("debug SSH state unknown: %s", error)
        state = "not available"
    try:
        keys, problem = await asyncio.to_thread(load_installer_keys, settings.data_dir), None
    except (PublicKeyInvalid, OSError) as error:
        keys, problem = (), str(error)
    try:
        name = await key_file_name(settings)
    except DeviceSecretsError as error:
        log.warning("debug SSH key name: %s", error)
        name = KEY_FILE_NAME.format(identity="charger")
    return DebugSshView(True, state, keys, problem, name)


async def control(settings: WebSettings, action: DebugSshAction, by: str) -> tuple[list[str], int]:
    """Start, restart or stop debug SSH for `by` (who, for the security event); lines and the
    HTTP status of the answer."""
    if settings.helper_socket is None:
        return [ONLY_ON_A_DEVICE], 409
    try:
        reply = await HelperClient(settings.helper_socket).debug_ssh(action)
    except HelperError as error:
        log.error("debug SSH %s by %s: %s", action, by, error)
        return [str(error)], 502
    lines = [f"sshd: {reply.message}"]
    if action != "stop":
        lines.append(await record_start(settings, by))
    return lines, 200


async def record_start(settings: WebSettings, by: str) -> str:
    """The security event of a start, in the event log beside the evse's; what was recorded."""
    message = f"Debug SSH (root shell on port 22) started by {by}"
    now = dt.datetime.now(dt.UTC)

    def append() -> None:
        database = Database.open(settings.data_dir / "chargeos.db")
        try:
            EventLog(database).append(
                "webapp", EventLevel.CRITICAL, STARTED_CODE, message, now=now, data={"by": by}
            )
        finally:
            database.close()

    try:
        await asyncio.to_thread(append)
    except (PersistenceError, OSError) as error:
        log.error("security event not recorded: %s: %s", message, error)
        return f"The security event could not be recorded: {error}"
    log.warning("security event: %s", message)
    return "Recorded as a security event in the event log (Monitor)."


async def save_keys(settings: WebSettings, text: str) -> tuple[PublicKey, ...]:
    """Validate and store the installer's public keys (PublicKeyInvalid says which line)."""
    return await asyncio.to_thread(save_installer_keys, settings.data_dir, text)


async def key_file_name(settings: WebSettings) -> str:
    """The device key's download name, with the charger identity in it."""
    secrets_ = await asyncio.to_thread(load_device_secrets, settings.data_dir)
    return KEY_FILE_NAME.format(identity=secrets_.charger_identity)


async def device_key(settings: WebSettings) -> bytes:
    """This device's private debug key, for the installer's download."""
    return await asyncio.to_thread(device_key_path(settings.data_dir).read_bytes)
