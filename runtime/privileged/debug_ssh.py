"""Debug SSH on a device, the root side: the helper starts, stops and reports the sshd unit,
which is never enabled (off at every boot); the unit's start step,
`python -m runtime.privileged.debug_ssh`, makes the persistent host key on /data once and
writes the keys sshd accepts (validated again here) into the unit's runtime directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime.config.atomic import atomic_write_bytes, atomic_write_text
from runtime.config.debug_ssh_keys import (
    PublicKey,
    PublicKeyInvalid,
    device_public_key,
    load_installer_keys,
    new_ssh_key,
)

DebugSshAction = Literal["start", "stop", "restart", "status"]
UNIT = "chargeos-debug-ssh.service"
SYSTEMCTL = "systemctl"
SYSTEMCTL_TIMEOUT_S = 120.0  # the unit's start step is a Python start under TCG (~5 s)
HOST_KEYS_DIR = "debug-ssh"  # under the data directory: root's own, 0700
HOST_KEY_NAME = "ssh_host_ecdsa_key"  # P-256, as the device's TLS and debug keys
AUTHORIZED_KEYS_NAME = "authorized_keys"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class DebugSshError(RuntimeError):
    """Debug SSH cannot be prepared; the message names the path and what to do."""


@dataclass(frozen=True)
class UnitState:
    """The sshd unit after an action: systemd's active state and, on failure, its words."""

    active: str  # systemctl is-active: active, inactive, failed, activating, ...
    error: str = ""


async def control_unit(action: DebugSshAction, unit: str = UNIT) -> UnitState:
    """Run `systemctl <action>` on the unit (not for status), then read its state."""
    error = ""
    if action != "status":
        code, _, error = await _systemctl(action, unit)
        error = error if code != 0 else ""
    _, state, _ = await _systemctl("is-active", unit)
    return UnitState(state or "unknown", error)


async def _systemctl(*arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        SYSTEMCTL, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), SYSTEMCTL_TIMEOUT_S)
    return process.returncode or 0, out.decode(errors="replace").strip(), err.decode().strip()


def host_key_path(data_dir: Path) -> Path:
    """The device's persistent SSH host key (made at the first start, kept across updates)."""
    return data_dir / HOST_KEYS_DIR / HOST_KEY_NAME


def prepare(data_dir: Path, run_dir: Path) -> list[str]:
    """Host key (once) and the authorized keys for sshd; what was done, one line each."""
    done = []
    key_path = host_key_path(data_dir)
    _own_private_dir(key_path.parent)
    if not key_path.exists():
        _key, private = new_ssh_key()
        atomic_write_bytes(key_path, private, PRIVATE_FILE_MODE)
        done.append(f"debug SSH: host key made in {key_path}")
    keys: list[PublicKey] = [device_public_key(data_dir)]
    try:
        keys.extend(load_installer_keys(data_dir))
    except PublicKeyInvalid as error:
        done.append(f"debug SSH: the installer's keys are not used: {error}")
    atomic_write_text(
        run_dir / AUTHORIZED_KEYS_NAME,
        "".join(f"{key.line()}\n" for key in keys),
        PRIVATE_FILE_MODE,
    )
    done.append(f"debug SSH: {len(keys)} authorized key(s): the device key and"
                f" {len(keys) - 1} of the installer")  # fmt: skip
    return done


def _own_private_dir(path: Path) -> None:
    """`path` is a real directory of this user (root), 0700; made if missing."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR_MODE)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DebugSshError(
            f"{path} is not a folder of uid {os.getuid()}: refused (someone else made it);"
            f" remove it and start debug SSH again"
        )
    path.chmod(PRIVATE_DIR_MODE)


def main(argv: Sequence[str] | None = None) -> int:
    """The unit's start step: prepare, print what was done; 1 with the reason on failure."""
    parser = argparse.ArgumentParser(prog="python -m runtime.privileged.debug_ssh")
    parser.add_argument("--data-dir", type=Path, default=Path("/data"))
    parser.add_argument("--run-dir", type=Path, required=True, help="the unit's RuntimeDirectory")
    args = parser.parse_args(argv)
    try:
        lines = prepare(args.data_dir, args.run_dir)
    except (DebugSshError, PublicKeyInvalid, OSError) as error:
        print(f"debug SSH not started: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
