"""Update signing keys: Ed25519 key pairs named by key id, and the keyring a system trusts.

A private key is `signing-<keyid>.pem` (PKCS8 PEM, mode 0600) in a directory outside the repo;
its public half is `<keyid>.pub` (SubjectPublicKeyInfo PEM). A keyring is a directory of `.pub`
files, each named for the key it holds; the image carries it as /etc/chargeos/keyring.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEYS_DIR_ENV = "CHARGEOS_KEYS_DIR"
DEFAULT_KEYS_DIR = Path("~/.config/chargeos/keys")
PRIVATE_PREFIX = "signing-"
PRIVATE_SUFFIX = ".pem"
PUBLIC_SUFFIX = ".pub"


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and what to do."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


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


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """The public key as the keyring stores it (SubjectPublicKeyInfo PEM)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signing_key_paths(directory: Path) -> list[Path]:
    """The private keys in `directory` (signing-*.pem), sorted by name."""
    return sorted(directory.glob(f"{PRIVATE_PREFIX}*{PRIVATE_SUFFIX}"))


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read a private signing key; refuse one that others may read or that is not Ed25519."""
    data = _read(path)
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


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read one public key file (SubjectPublicKeyInfo PEM, Ed25519)."""
    try:
        key = serialization.load_pem_public_key(_read(path))
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeyFileError(f"{path}: not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
    return key


def load_keyring(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every `<keyid>.pub` in `directory` by key id; a missing directory is an empty keyring."""
    if not directory.is_dir():
        return {}
    keyring: dict[str, Ed25519PublicKey] = {}
    for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")):
        key = load_public_key(path)
        identity = key_id(key)
        if path.stem != identity:
            raise KeyFileError(
                f"{path}: holds the key {identity}, so its name must be {identity}{PUBLIC_SUFFIX}"
            )
        keyring[identity] = key
    return keyring


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"{path}: cannot be read ({error.strerror})") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never overwriting a key) with `mode` from the start, durably."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fchmod(file.fileno(), mode)  # the umask may have narrowed the mode of the new file
        os.fsync(file.fileno())
