"""The verify step's rules beyond the hostile zips: key rotation, the version policy, the marker,
the manifest's JSON and model, plain files that are not zips, and a development system.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from image.builder.update_zip import write_update_zip
from runtime.update import RunningSystem, running_system, verify_update
from runtime.update.keys import key_id
from runtime.update.manifest import FORMAT_MARKER_NAME, MANIFEST_NAME
from tests.runtime.update.fakes import (
    FIELDS,
    Raw,
    assemble,
    manifest_for,
    members_for,
    snapshot,
    system_for,
)


def verdict_of(path: Path, system: RunningSystem, *, force: bool = False) -> tuple[bool, str]:
    """ok and summary; verify never writes."""
    before = snapshot(path.parent)
    verdict = verify_update(path, system, force=force)
    assert snapshot(path.parent) == before
    assert (verdict.manifest is not None) == verdict.ok
    return verdict.ok, verdict.summary


def signed_by(
    uploads: Path, payload_file: Path, keys: list[Ed25519PrivateKey], **fields: str
) -> Path:
    """A real update signed by `keys`, its manifest fields changed as asked."""
    path = uploads / "update.zip"
    write_update_zip(path, {**FIELDS, **fields}, {"rootfs": payload_file}, keys)
    return path


# ----- keys -----------------------------------------------------------------------------------
def test_an_update_signed_by_a_rotated_out_key_and_the_new_one_verifies(
    uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    old, new = Ed25519PrivateKey.generate(), signing_key
    path = signed_by(uploads, payload_file, [old, new])
    ok, summary = verdict_of(path, system_for([new.public_key()]))  # the old key left the keyring
    assert ok and key_id(new.public_key()) in summary


def test_a_charger_still_trusting_only_the_old_key_verifies_the_same_update(
    uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    old, new = signing_key, Ed25519PrivateKey.generate()
    path = signed_by(uploads, payload_file, [new, old])
    ok, summary = verdict_of(path, system_for([old.public_key()]))
    assert ok and key_id(old.public_key()) in summary


def test_a_known_key_with_a_bad_signature_is_refused_even_beside_a_good_one(
    uploads: Path, signing_key: Ed25519PrivateKey
) -> None:
    other = Ed25519PrivateKey.generate()
    manifest = manifest_for().to_bytes()
    forged = {key_id(other.public_key()): signing_key.sign(b"another manifest")}
    path = uploads / "update.zip"
    path.write_bytes(assemble(members_for(manifest, [signing_key], signatures=forged)))
    system = system_for([signing_key.public_key(), other.public_key()])
    ok, summary = verdict_of(path, system)
    assert not ok and "manifest changed after signing" in summary


def test_a_development_system_verifies_nothing_and_says_why(
    update_zip: Path, tmp_path: Path
) -> None:
    system = running_system(tmp_path / "no-image")
    assert system.development and system.keyring == {}
    verdict = verify_update(update_zip, system)
    assert not verdict.ok
    assert (
        verdict.summary == "This charger has no update signing keys: it cannot verify any update."
    )
    assert verdict.details == ["a development system: no /etc/chargeos/system.json"]


# ----- version policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.1.0", "0.1.5"], ids=["at the floor", "above the floor"])
def test_a_downgrade_at_or_above_the_floor_is_allowed(
    uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey, version: str
) -> None:
    path = signed_by(uploads, payload_file, [signing_key], version=version, min_version="0.1.0")
    ok, summary = verdict_of(path, system_for([signing_key.public_key()]))  # running 0.2.0
    assert ok, summary


def test_the_running_version_is_refused_unless_forced(
    uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    path = signed_by(uploads, payload_file, [signing_key], version="0.2.0", min_version="0.1.0")
    system = system_for([signing_key.public_key()])
    ok, summary = verdict_of(path, system)
    assert not ok and summary == "Version 0.2.0 is already running: there is nothing to install."
    assert verdict_of(path, system, force=True)[0]


def test_versions_compare_as_numbers_not_text(
    uploads: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    path = signed_by(uploads, payload_file, [signing_key], version="0.10.0", min_version="0.10.0")
    system = system_for([signing_key.public_key()], version="0.9.0", min_version="0.9.0")
    assert verdict_of(path, system)[0]


# ----- marker and manifest ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("marker", "summary"),
    [
        (b"chargeos-update 2\n", r"in a format this charger does not know"),
        (b"hello\n", r"its chargeos-update marker is wrong"),
        (b"x" * 1000, r"chargeos-update is far too large"),
    ],
    ids=["newer format", "wrong text", "oversized"],
)
def test_a_wrong_marker_is_refused(
    uploads: Path, signing_key: Ed25519PrivateKey, marker: bytes, summary: str
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    members[0] = Raw(FORMAT_MARKER_NAME, marker)
    path = uploads / "update.zip"
    path.write_bytes(assemble(members))
    ok, said = verdict_of(path, system_for([signing_key.public_key()]))
    assert not ok and re.search(summary, said), said


INVALID_MANIFESTS = [
    (b'{"format": 1, "compatible": ', r"manifest\.json is not valid JSON"),
    (b"\xff\xfe{}", r"manifest\.json is not UTF-8 text"),
    (b"[1, 2]", r"manifest\.json is not valid: \(top level\): Input should be an object"),
    (
        manifest_for(version="0.3").to_bytes(),
        r"version: '0\.3' is not a version: expected MAJOR\.MINOR\.PATCH",
    ),
    (
        manifest_for(min_version="0.4.0").to_bytes(),
        r"min_version 0\.4\.0 is above version 0\.3\.0",
    ),
    (
        manifest_for().to_bytes().replace(b"{", b'{"signed_by": "me", ', 1),
        r"signed_by: Extra inputs are not permitted",
    ),
    (
        manifest_for().to_bytes().replace(b'"size": 262144', b'"size": "262144"'),
        r"payloads\.0\.size: Input should be a valid integer",
    ),
]


@pytest.mark.parametrize(("manifest", "summary"), INVALID_MANIFESTS)
def test_an_invalid_signed_manifest_is_refused_with_the_field_named(
    uploads: Path, signing_key: Ed25519PrivateKey, manifest: bytes, summary: str
) -> None:
    path = uploads / "update.zip"
    path.write_bytes(assemble(members_for(manifest, [signing_key])))
    ok, said = verdict_of(path, system_for([signing_key.public_key()]))
    assert not ok and re.search(summary, said), said


def test_a_manifest_without_its_payload_member_is_refused(
    uploads: Path, signing_key: Ed25519PrivateKey
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    members[-1] = Raw("rootfs.img", members[-1].data)
    path = uploads / "update.zip"
    path.write_bytes(assemble(members))
    ok, said = verdict_of(path, system_for([signing_key.public_key()]))
    assert not ok and said == "The update is incomplete: rootfs.squashfs is missing from the zip."


def test_members_out_of_order_are_refused(uploads: Path, signing_key: Ed25519PrivateKey) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    members[1], members[2] = members[2], members[1]
    path = uploads / "update.zip"
    path.write_bytes(assemble(members))
    ok, said = verdict_of(path, system_for([signing_key.public_key()]))
    assert (
        not ok
        and said
        == f"This zip is not a ChargeOS update: its {MANIFEST_NAME} is not the second file."
    )


# ----- what is not a zip at all ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "summary"),
    [
        (b"", r"^The file is empty: it is not an update zip\.$"),
        (b"this is a text file\n" * 100, r"^This is not a zip file"),
        (b"PK\x03\x04 cut short", r"incomplete \(truncated\)"),
        (b"PK\x05\x06" + bytes(18), r"does not start with the chargeos-update marker"),
    ],
    ids=["empty", "text", "cut short", "empty zip"],
)
def test_files_that_are_not_updates_get_plain_words(
    uploads: Path, system: RunningSystem, content: bytes, summary: str
) -> None:
    path = uploads / "upload.zip"
    path.write_bytes(content)
    ok, said = verdict_of(path, system)
    assert not ok and re.search(summary, said), said


def test_an_unreadable_path_is_said_to_be_unreadable(tmp_path: Path, system: RunningSystem) -> None:
    for path in (tmp_path / "missing.zip", tmp_path):
        verdict = verify_update(path, system)
        assert not verdict.ok and verdict.summary == "The update file cannot be read."
