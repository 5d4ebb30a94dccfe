"""Per-device secrets: charger identity, login password hashes and the access point key.

Created once per device with `secrets` under `<data_dir>/secrets/` (dir 0700, files 0600), never
in a profile, the image or the repo, and never overwritten. The plaintext passwords exist only in
the sticker file the factory prints and places inside the charger (manual 4.3).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from runtime.config.atomic import atomic_write_text

Role = Literal["installer", "ev"]
ROLES: tuple[Role, ...] = ("installer", "ev")

SECRETS_DIR_MODE = 0o700
SECRETS_FILE_MODE = 0o600
PASSWORD_LENGTH = 16
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
ACCESS_POINT_PSK_LENGTH = 12
ACCESS_POINT_SSID_PREFIX = "VoltTime"  # manual 4.3: the access point is "VoltTimeXXXXXX"
IDENTITY_DIGITS = 7  # manual 4.3: identities look like VT_0004272
# Printed on a sticker and typed on a phone: no 0/O/o, 1/I/l look-alikes.
UNAMBIGUOUS_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
# The same rule as schemas.station.Station.identity_prefix.
_PREFIX = r"[A-Za-z0-9_-]{1,16}"
IDENTITY_PREFIX_PATTERN = rf"^{_PREFIX}$"
IDENTITY_PATTERN = rf"^{_PREFIX}[0-9]{{{IDENTITY_DIGITS}}}$"
# argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane): affordable on the board's memory budget.
PASSWORD_HASH_PARAMETERS = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,
    parallelism=1,
)
_ARGON2ID_HASH = r"^\$argon2id\$"


class DeviceSecretsError(Exception):
    """The device secrets cannot be used; the message names the file and what to do."""


class DeviceSecrets(BaseModel):
    """What `<data_dir>/secrets/device.json` holds; no plaintext password ever."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    charger_identity: str = Field(
        pattern=IDENTITY_PATTERN,
        description="Charger identity (OCPP chargePointId), e.g. VT_0004272",
    )
    installer_password_hash: str = Field(pattern=_ARGON2ID_HASH)
    ev_password_hash: str = Field(pattern=_ARGON2ID_HASH)
    access_point_psk: str = Field(min_length=ACCESS_POINT_PSK_LENGTH, max_length=63)
    created_at: AwareDatetime

    @property
    def access_point_ssid(self) -> str:
        """The access point name: "VoltTime" and the identity's last 6 digits."""
        return ACCESS_POINT_SSID_PREFIX + self.charger_identity[-6:]

    def password_hash(self, role: Role) -> str:
        """The stored argon2id hash of `role`'s login password."""
        return self.installer_password_hash if role == "installer" else self.ev_password_hash


@dataclass(frozen=True)
class ProvisionResult:
    """What provisioning found or made."""

    created: bool
    secrets: DeviceSecrets
    sticker_path: Path


def default_password_hasher() -> PasswordHasher:
    """The argon2id hasher for login passwords (PASSWORD_HASH_PARAMETERS)."""
    return PasswordHasher.from_parameters(PASSWORD_HASH_PARAMETERS)


def secrets_path(data_dir: Path) -> Path:
    """Where the device secrets live on the data partition."""
    return data_dir / "secrets" / "device.json"


def sticker_path(data_dir: Path) -> Path:
    """Where the sticker (label text with the plaintext logins) is written."""
    return data_dir / "secrets" / "sticker.txt"


def provision_device_secrets(
    data_dir: Path,
    identity_prefix: str = "VT_",
    *,
    hasher: PasswordHasher | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ProvisionResult:
    """Create this device's secrets and sticker once; later calls return the existing ones."""
    if not re.fullmatch(IDENTITY_PREFIX_PATTERN, identity_prefix):
        raise ValueError(
            f"identity prefix {identity_prefix!r}: use 1 to 16 letters, digits, '_' or '-'"
        )
    hasher = hasher or default_password_hasher()
    directory = _secrets_dir(data_dir)
    with _locked(directory):
        if secrets_path(data_dir).exists():
            return ProvisionResult(False, load_device_secrets(data_dir), sticker_path(data_dir))
        passwords = {role: _random_text(PASSWORD_LENGTH) for role in ROLES}
        device = DeviceSecrets(
            charger_identity=_new_identity(identity_prefix),
            installer_password_hash=hasher.hash(passwords["installer"]),
            ev_password_hash=hasher.hash(passwords["ev"]),
            access_point_psk=_random_text(ACCESS_POINT_PSK_LENGTH),
            created_at=clock(),
        )
        # Sticker first: a crash before device.json exists leaves no hash without its password.
        sticker = sticker_path(data_dir)
        atomic_write_text(sticker, sticker_text(device, passwords), SECRETS_FILE_MODE)
        _write(data_dir, device)
    return ProvisionResult(True, device, sticker)


def load_device_secrets(data_dir: Path) -> DeviceSecrets:
    """Read and check the device secrets; DeviceSecretsError says what is wrong and where."""
    path = secrets_path(data_dir)
    try:
        _check_private(path.parent, SECRETS_DIR_MODE)
        _check_private(path, SECRETS_FILE_MODE)
        return DeviceSecrets.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise DeviceSecretsError(
            f"{path}: missing; this device has not been provisioned"
            " (provision_device_secrets runs at first boot)"
        ) from None
    except OSError as error:
        raise DeviceSecretsError(f"{path}: cannot read device secrets: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in error.errors()
        )
        raise DeviceSecretsError(
            f"{path}: corrupt device secrets ({problems}); restore the file from a backup"
            " or re-provision the device (new identity, logins and sticker)"
        ) from None


def verify_password(
    device_secrets: DeviceSecrets,
    role: Role,
    password: str,
    hasher: PasswordHasher | None = None,
) -> bool:
    """True when `password` is `role`'s login password."""
    hasher = hasher or default_password_hasher()
    try:
        return hasher.verify(device_secrets.password_hash(_checked_role(role)), password)
    except VerifyMismatchError:
        return False


def change_password(
    data_dir: Path,
    role: Role,
    new_password: str,
    *,
    hasher: PasswordHasher | None = None,
) -> DeviceSecrets:
    """Replace `role`'s login password (atomically); returns the updated secrets."""
    field = f"{_checked_role(role)}_password_hash"
    if not MIN_PASSWORD_LENGTH <= len(new_password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a {role} password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    hasher = hasher or default_password_hasher()
    load_device_secrets(data_dir)  # fail clearly before locking a directory that may not exist
    with _locked(secrets_path(data_dir).parent):
        current = load_device_secrets(data_dir)
        updated = DeviceSecrets.model_validate(
            {**current.model_dump(), field: hasher.hash(new_password)}
        )
        _write(data_dir, updated)
    return updated


def sticker_text(device: DeviceSecrets, passwords: dict[Role, str]) -> str:
    """The label the factory prints inside the charger: identity, access point and logins."""
    rows = (
        ("Charger identity", device.charger_identity),
        ("Access point SSID", device.access_point_ssid),
        ("Access point password", device.access_point_psk),
        ("Installer user", "installer"),
        ("Installer password", passwords["installer"]),
        ("EV user", "ev"),
        ("EV password", passwords["ev"]),
    )
    width = max(len(label) for label, _ in rows) + 2
    return "".join(f"{label + ':':<{width}}{value}\n" for label, value in rows)


def _new_identity(prefix: str) -> str:
    return f"{prefix}{secrets.randbelow(10**IDENTITY_DIGITS):0{IDENTITY_DIGITS}d}"


def _random_text(length: int) -> str:
    return "".join(secrets.choice(UNAMBIGUOUS_ALPHABET) for _ in range(length))


def _checked_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise ValueError(f"unknown login {role!r}; expected one of: {', '.join(ROLES)}")


def _secrets_dir(data_dir: Path) -> Path:
    directory = secrets_path(data_dir).parent
    directory.mkdir(mode=SECRETS_DIR_MODE, parents=True, exist_ok=True)
    directory.chmod(SECRETS_DIR_MODE)  # mkdir's mode is filtered by the umask
    return directory


def _write(data_dir: Path, device: DeviceSecrets) -> None:
    text = device.model_dump_json(indent=2) + "\n"
    atomic_write_text(secrets_path(data_dir), text, SECRETS_FILE_MODE)


def _check_private(path: Path, expected: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DeviceSecretsError(
            f"{path}: mode {mode:04o} lets other users read device secrets;"
            f" expected {expected:04o} (chmod {expected:o} {path})"
        )


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory`, so concurrent writers never lose an update."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
