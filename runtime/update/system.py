"""The running system as the update verify step sees it: compatible, version, floor and keyring.

An image describes itself in /etc/chargeos/system.json and trusts the keys in
/etc/chargeos/keyring. A development checkout (`make run`) has neither: it is a development
system with no signing keys, so it verifies no update.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.boot.scheme import SLOT_LABELS
from runtime.update.keys import KeyFileError, load_keyring
from runtime.update.manifest import one_line, parse_version
from runtime.version import chargeos_version

log = logging.getLogger(__name__)

SYSTEM_FILE = Path("etc/chargeos/system.json")  # relative to the system root
KEYRING_DIR = Path("etc/chargeos/keyring")
SLOT_A_DEVICE = Path("dev/disk/by-partlabel") / SLOT_LABELS["A"]  # both slots: the same size
DEVELOPMENT_COMPATIBLE = "chargeos,development"
DEVELOPMENT_FLOOR = "0.0.0"


class SystemFileError(ValueError):
    """system.json exists but cannot be used; the message names the file and the field."""


class SystemInfo(BaseModel):
    """/etc/chargeos/system.json, written by the image build."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Name")
    version: str = Field(description="Version")
    min_version: str = Field(description="Version floor")
    board: str = Field(min_length=1, description="Board")
    compatible: str = Field(min_length=1, description="Compatible")
    source_date_epoch: int = Field(ge=0, description="Build time (SOURCE_DATE_EPOCH)")

    @field_validator("version", "min_version")
    @classmethod
    def version_is_major_minor_patch(cls, text: str) -> str:
        """The same MAJOR.MINOR.PATCH as an update's manifest."""
        parse_version(text)
        return text


@dataclass(frozen=True)
class RunningSystem:
    """What an update must match: compatible, version and floor, the keys it trusts."""

    compatible: str
    version: str
    min_version: str  # the version floor: no update below it installs
    keyring: dict[str, Ed25519PublicKey]
    slot_size_bytes: int | None = None  # None: unknown (development), not checked

    @property
    def development(self) -> bool:
        """True for a development checkout (no system.json)."""
        return self.compatible == DEVELOPMENT_COMPATIBLE


def running_system(root: Path = Path("/"), slot_size_bytes: int | None = None) -> RunningSystem:
    """Read root/etc/chargeos/system.json and its keyring; without it, a development system.

    Raises SystemFileError (naming the file and field) when either cannot be used.
    """
    path = root / SYSTEM_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RunningSystem(
            compatible=DEVELOPMENT_COMPATIBLE,
            version=chargeos_version(),
            min_version=DEVELOPMENT_FLOOR,
            keyring={},
            slot_size_bytes=slot_size_bytes,
        )
    except (OSError, UnicodeDecodeError) as error:
        raise SystemFileError(f"{path}: cannot be read ({error})") from None
    try:
        info = SystemInfo.model_validate(json.loads(text))
    except ValidationError as error:
        raise SystemFileError(f"{path}: {one_line(error)}") from None
    except ValueError as error:
        raise SystemFileError(f"{path}: not valid JSON ({error})") from None
    try:
        keyring = load_keyring(root / KEYRING_DIR)
    except KeyFileError as error:
        raise SystemFileError(str(error)) from None
    return RunningSystem(
        compatible=info.compatible,
        version=info.version,
        min_version=info.min_version,
        keyring=keyring,
        slot_size_bytes=slot_size_bytes,
    )


def slot_size(root: Path = Path("/")) -> int | None:
    """The size of a root filesystem slot in bytes, or None without slots (development)."""
    device = root / SLOT_A_DEVICE
    if not device.exists():
        return None
    try:
        descriptor = os.open(device, os.O_RDONLY)
    except OSError as error:  # the services' user may not open the disk: sysfs tells the size
        return _sysfs_size(root, device, error)
    try:
        return os.lseek(descriptor, 0, os.SEEK_END)
    finally:
        os.close(descriptor)


def _sysfs_size(root: Path, device: Path, error: OSError) -> int | None:
    sectors = root / "sys/class/block" / device.resolve().name / "size"
    try:
        return int(sectors.read_text(encoding="ascii")) * 512  # always 512-byte units
    except (OSError, ValueError) as sysfs_error:
        log.warning("size of %s unknown: %s; %s", device, error, sysfs_error)
        return None
