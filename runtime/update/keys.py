"""The keyring a system trusts for updates: Ed25519 public keys named by key id.

A keyring is a directory of `<keyid>.pub` files (SubjectPublicKeyInfo PEM), each named for the
key it holds; the image carries it as /etc/chargeos/keyring. Key ids name the signatures in an
update zip. Signing keys are made and read only on the build host (image.builder.signing).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PUBLIC_SUFFIX = ".pub"


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and what to do."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """The public key as the keyring stores it (SubjectPublicKeyInfo PEM)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read one public key file (SubjectPublicKeyInfo PEM, Ed25519)."""
    try:
        key = serialization.load_pem_public_key(read_key_file(path))
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


def read_key_file(path: Path) -> bytes:
    """A key file's bytes; an unreadable file is a KeyFileError naming it."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"{path}: cannot be read ({error.strerror})") from None
