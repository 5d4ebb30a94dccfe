"""Signing keys: created with safe modes outside the repo, named by key id, and a keyring whose
files must be named for the key they hold.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from image.builder.signing import (
    create_signing_key,
    default_keys_dir,
    load_signing_key,
    signing_key_paths,
)
from runtime.update.keys import KeyFileError, key_id, load_keyring, load_public_key


def mode(path: Path) -> int:
    """Permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_key_pair_is_private_and_named_by_its_key_id(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    private_path, public_path = create_signing_key(directory)
    assert mode(directory) == 0o700 and mode(private_path) == 0o600
    key = load_signing_key(private_path)
    identity = key_id(key.public_key())
    assert len(identity) == 16 and int(identity, 16) >= 0
    assert private_path.name == f"signing-{identity}.pem" and public_path.name == f"{identity}.pub"
    assert key_id(load_public_key(public_path)) == identity
    assert signing_key_paths(directory) == [private_path]
    assert b"BEGIN PRIVATE KEY" in private_path.read_bytes()  # PKCS8, no password


def test_key_id_is_the_start_of_the_sha256_of_the_raw_public_key(tmp_path: Path) -> None:
    import hashlib

    key = load_signing_key(create_signing_key(tmp_path)[0]).public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(key) == hashlib.sha256(raw).hexdigest()[:16]


def test_a_signing_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    private_path, _ = create_signing_key(tmp_path)
    private_path.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"readable by others \(mode 0644\): chmod 600 it"):
        load_signing_key(private_path)


def test_the_keyring_reads_every_pub_file_by_key_id(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ids = sorted(key_id(load_public_key(create_signing_key(keys)[1])) for _ in range(2))
    ring = tmp_path / "keyring"
    ring.mkdir()
    for identity in ids:
        (ring / f"{identity}.pub").write_bytes((keys / f"{identity}.pub").read_bytes())
    (ring / "README").write_text("not a key\n")
    assert sorted(load_keyring(ring)) == ids
    assert load_keyring(tmp_path / "none") == {}


def test_a_keyring_file_named_for_another_key_is_an_error_naming_it(tmp_path: Path) -> None:
    _, public_path = create_signing_key(tmp_path / "keys")
    ring = tmp_path / "keyring"
    ring.mkdir()
    wrong = ring / "0123456789abcdef.pub"
    wrong.write_bytes(public_path.read_bytes())
    with pytest.raises(KeyFileError) as raised:
        load_keyring(ring)
    assert str(raised.value) == (
        f"{wrong}: holds the key {public_path.stem}, so its name must be {public_path.name}"
    )


def test_a_keyring_file_that_is_not_an_ed25519_key_is_an_error_naming_it(tmp_path: Path) -> None:
    ring = tmp_path / "keyring"
    ring.mkdir()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (ring / "a.pub").write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(KeyFileError, match=r"a\.pub: not an Ed25519 public key"):
        load_keyring(ring)
    (ring / "a.pub").write_text("garbage\n")
    with pytest.raises(KeyFileError, match=r"a\.pub: not a PEM public key"):
        load_keyring(ring)


def test_development_keys_live_outside_the_repo(tmp_path: Path) -> None:
    assert default_keys_dir({"CHARGEOS_KEYS_DIR": str(tmp_path)}) == tmp_path
    assert default_keys_dir({}) == Path.home() / ".config" / "chargeos" / "keys"
