"""Debug SSH's credentials: first boot makes the device's own key pair once (private, 0600 in
0700), the installer's public keys are validated line by line (strong types only, no options,
a comment of safe characters) and a refused text changes nothing; fingerprints read like
`ssh-keygen -l`.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from runtime import firstboot
from runtime.config.debug_ssh_keys import (
    MAX_INSTALLER_KEYS,
    PublicKeyInvalid,
    authorized_keys,
    device_key_path,
    device_public_key,
    ensure_device_key,
    installer_keys_path,
    load_installer_keys,
    parse_public_key,
    parse_public_keys,
    save_installer_keys,
)

REPO = Path(__file__).resolve().parents[3]
Key = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def public_line(key: Key, comment: str = "") -> str:
    """The OpenSSH one-line public key of `key`."""
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{line.decode()} {comment}".rstrip()


def mode(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def test_first_boot_makes_the_device_key_once_and_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    factory = str(REPO / "profiles" / "simulated.yaml")
    assert firstboot.main(["--data-dir", str(data), "--factory-profile", factory]) == 0
    key = device_key_path(data)
    assert mode(key) == 0o600 and mode(key.parent) == 0o700
    made = key.read_bytes()
    assert made.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert firstboot.main(["--data-dir", str(data), "--factory-profile", factory]) == 0
    assert key.read_bytes() == made  # never replaced
    assert not ensure_device_key(data, "VT_0000001")
    published = key.with_name("id_ecdsa.pub").read_text().split()
    assert device_public_key(data).line().split()[:2] == published[:2]


def test_a_device_key_lost_from_an_older_data_partition_is_made_at_the_next_boot(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    factory = str(REPO / "profiles" / "simulated.yaml")
    assert firstboot.main(["--data-dir", str(data), "--factory-profile", factory]) == 0
    shutil.rmtree(device_key_path(data).parent)  # as a data partition from before debug SSH
    assert firstboot.main(["--data-dir", str(data), "--factory-profile", factory]) == 0
    assert device_key_path(data).exists()


@pytest.mark.parametrize(
    "key",
    [
        ed25519.Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP521R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=3072),
    ],
    ids=["ed25519", "ecdsa-p256", "ecdsa-p521", "rsa-3072"],
)
def test_strong_public_keys_are_accepted_as_they_are(key: Key) -> None:
    line = public_line(key, "engineer@laptop")
    assert parse_public_key(line).line() == line


REFUSED = [
    ("weak rsa", public_line(rsa.generate_private_key(65537, 2048)), "2048 bits is too weak"),
    (
        "options",
        'command="/bin/sh",no-pty ' + public_line(ed25519.Ed25519PrivateKey.generate()),
        "options before the key are not accepted",
    ),
    ("dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP8=", "not an accepted key type"),
    ("garbage", "ssh-ed25519 bm90IGEga2V5", "does not decode"),
    (
        "type mismatch",
        "ssh-ed25519 " + public_line(ec.generate_private_key(ec.SECP256R1())).split()[1],
        "does not decode",
    ),
    ("private key pasted", "-----BEGIN OPENSSH PRIVATE KEY-----", "not an accepted key type"),
]


@pytest.mark.parametrize(("what", "line", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_key_names_its_line_and_changes_nothing(
    tmp_path: Path, what: str, line: str, reason: str
) -> None:
    good = public_line(ed25519.Ed25519PrivateKey.generate(), "kept")
    save_installer_keys(tmp_path, good + "\n")
    with pytest.raises(PublicKeyInvalid) as refused:
        save_installer_keys(tmp_path, f"# the team's keys\n{good}\n{line}\n")
    assert str(refused.value).startswith("Authorized public keys, line 3: ")
    assert reason in str(refused.value)
    assert [key.line() for key in load_installer_keys(tmp_path)] == [good]


def test_a_comment_keeps_only_safe_characters(tmp_path: Path) -> None:
    line = public_line(ed25519.Ed25519PrivateKey.generate(), 'me "x"\tcommand=ls')
    (kept,) = parse_public_keys(line)
    assert kept.comment == "me__x__command=ls"
    assert "\n" not in kept.line() and '"' not in kept.line()


def test_at_most_sixteen_installer_keys_are_kept() -> None:
    lines = [public_line(ed25519.Ed25519PrivateKey.generate()) for _ in range(17)]
    assert len(parse_public_keys("\n".join(lines[:MAX_INSTALLER_KEYS]))) == MAX_INSTALLER_KEYS
    with pytest.raises(PublicKeyInvalid, match="17 keys; at most 16"):
        parse_public_keys("\n".join(lines))


def test_saved_keys_are_private_and_authorized_after_the_device_key(tmp_path: Path) -> None:
    ensure_device_key(tmp_path, "VT_0000001")
    installer = public_line(ed25519.Ed25519PrivateKey.generate(), "installer")
    save_installer_keys(tmp_path, installer)
    assert mode(installer_keys_path(tmp_path)) == 0o600
    lines = [key.line() for key in authorized_keys(tmp_path)]
    assert lines == [device_public_key(tmp_path).line(), installer]
    save_installer_keys(tmp_path, "")  # an empty field removes them
    assert authorized_keys(tmp_path) == (device_public_key(tmp_path),)


def test_a_fingerprint_is_the_one_ssh_keygen_shows(tmp_path: Path) -> None:
    line = public_line(ed25519.Ed25519PrivateKey.generate(), "x")
    (tmp_path / "key.pub").write_text(line + "\n")
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "key.pub")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert listed.split()[1] == parse_public_key(line).fingerprint()
