"""Update signing keys on the build host: new Ed25519 key pairs and the private keys that sign.

A private key is `signing-<keyid>.pem` (PKCS8 PEM, mode 0600) in a directory outside the repo;
its public half is `<keyid>.pub`, the keyring format of runtime.update.keys, which images carry
so the device can verify what these keys signed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update.keys import PUBLIC_SUFFIX, KeyFileError, key_id, public_pem, read_key_file

KEYS_DIR_ENV = "CHARGEOS_KEYS_DIR"
DEFAULT_KEYS_DIR = Path("~/.config/chargeos/keys")
PRIVATE_PREFIX = "signing-"
PRIVATE_SUFFIX = ".pem"


def default_keys_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """$CHARGEOS_KEYS_DIR, else ~/.config/chargeos/keys: development keys never live in git."""
    configured = environ.get(KEYS_DIR_ENV)
    return Path(configured) if configured else DEFAULT_KEYS_DIR.expanduser()


def create_signing_key(directory: Path) -> tuple[Path, Path]:
    """A new key pair in `directory` (created 0700): (signing-<id>.pem 0600, <id>.pub)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    identity = key_id(public_key)
    private_path = directory / f"{PRIVATE_PREFIX}{identity}{PRIVATE_SUFFIX}"
    public_path = directory / f"{identity}{PUBLIC_SUFFIX}"
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem(public_key), 0o644)
    return private_path, public_path


def signing_key_paths(directory: Path) -> list[Path]:
    """The private keys in `directory` (signing-*.pem), sorted by name."""
    return sorted(directory.glob(f"{PRIVATE_PREFIX}*{PRIVATE_SUFFIX}"))


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read a private signing key; refuse one that others may read or that is not Ed25519."""
    data = read_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{path}: the signing key is readable by others (mode {mode:04o}): chmod 600 it"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyFileError(f"{path}: not a PEM private key without password ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never overwriting a key) with `mode` from the start, durably."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fchmod(file.fileno(), mode)  # the umask may have narrowed the mode of the new file
        os.fsync(file.fileno())
