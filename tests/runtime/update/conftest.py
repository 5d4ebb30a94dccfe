"""Fixtures of the OTA tests: a signing key made by the key tool, a real signed update zip of a
small random payload, and the running system that trusts the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from image.builder.signing import create_signing_key, load_signing_key
from image.builder.update_zip import write_update_zip
from runtime.update.system import RunningSystem
from tests.runtime.update.fakes import FIELDS, PAYLOAD, system_for


@pytest.fixture
def signing_key(tmp_path: Path) -> Ed25519PrivateKey:
    """A development key pair in tmp_path/keys, as `create_signing_key` writes it."""
    private_path, _ = create_signing_key(tmp_path / "keys")
    return load_signing_key(private_path)


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """The directory update zips are put in (verify must leave it as it is)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    """The root filesystem payload: 256 KiB of random bytes."""
    path = tmp_path / "rootfs.squashfs"
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def update_zip(uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey) -> Path:
    """A real signed update: ChargeOS 0.3.0 (floor 0.2.0) for chargeos,qemu-x86_64."""
    path = uploads / "update.zip"
    write_update_zip(path, FIELDS, {"rootfs": payload_file}, [signing_key])
    return path


@pytest.fixture
def system(signing_key: Ed25519PrivateKey) -> RunningSystem:
    """ChargeOS 0.2.0 (floor 0.1.0) with a 1 MiB slot, trusting `signing_key`."""
    return system_for([signing_key.public_key()])
