"""The running system: read from /etc/chargeos under a root, a development system without it,
and the root slot's size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update import running_system
from runtime.update.keys import key_id
from runtime.update.system import SYSTEM_FILE, SystemFileError, slot_size
from runtime.version import chargeos_version
from tests.runtime.update.fakes import write_system_root


def test_an_image_is_described_by_system_json_and_its_keyring(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    root = write_system_root(tmp_path / "root", [signing_key.public_key()])
    system = running_system(root, slot_size_bytes=1234)
    assert (system.compatible, system.version, system.min_version) == (
        "chargeos,qemu-x86_64",
        "0.2.0",
        "0.1.0",
    )
    assert list(system.keyring) == [key_id(signing_key.public_key())]
    assert system.slot_size_bytes == 1234 and not system.development


def test_without_system_json_it_is_a_development_system(tmp_path: Path) -> None:
    system = running_system(tmp_path)
    assert system.development and system.compatible == "chargeos,development"
    assert system.version == chargeos_version() and system.min_version == "0.0.0"
    assert system.keyring == {} and system.slot_size_bytes is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{", "not valid JSON"),
        (json.dumps({"name": "ChargeOS"}), "version: Field required"),
        (None, "version: '1' is not a version"),
    ],
)
def test_a_damaged_system_json_is_an_error_naming_file_and_field(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    root = write_system_root(tmp_path, [], version="1")
    if content is not None:
        (root / SYSTEM_FILE).write_text(content)
    with pytest.raises(SystemFileError, match=str(root / SYSTEM_FILE)) as raised:
        running_system(root)
    assert expected in str(raised.value)


def test_a_misnamed_keyring_file_makes_the_system_unusable(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    root = write_system_root(tmp_path, [signing_key.public_key()])
    (pub,) = (root / "etc/chargeos/keyring").iterdir()
    pub.rename(pub.with_name("ffffffffffffffff.pub"))
    with pytest.raises(SystemFileError, match="so its name must be"):
        running_system(root)


def test_the_slot_size_is_rootfs_a_size_or_unknown(tmp_path: Path) -> None:
    assert slot_size(tmp_path) is None
    device = tmp_path / "dev/disk/by-partlabel/rootfs-a"
    device.parent.mkdir(parents=True)
    device.write_bytes(b"\0" * 4096)
    assert slot_size(tmp_path) == 4096
