"""Hostile update zips (issue 6's acceptance list): each is refused with a clear message naming
the problem, and the verify step writes nothing (the directory and every mtime unchanged).
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update import RunningSystem, Verdict, verify_update
from runtime.update.manifest import FORMAT_MARKER, FORMAT_MARKER_NAME, MANIFEST_NAME
from tests.runtime.update.fakes import (
    PAYLOAD,
    Raw,
    assemble,
    manifest_for,
    members_for,
    snapshot,
    system_for,
)


def refused(path: Path, system: RunningSystem, summary: str, *, force: bool = False) -> Verdict:
    """Verify `path`: refused, the summary matches, details say where, nothing was written."""
    before = snapshot(path.parent)
    verdict = verify_update(path, system, force=force)
    assert snapshot(path.parent) == before
    assert verdict.ok is False and verdict.manifest is None
    assert re.search(summary, verdict.summary), verdict.summary
    assert verdict.details, verdict
    return verdict


def put(uploads: Path, content: bytes, name: str = "hostile.zip") -> Path:
    """A zip as an upload would leave it."""
    path = uploads / name
    path.write_bytes(content)
    return path


def test_the_real_update_verifies_and_names_version_system_and_key(
    update_zip: Path, system: RunningSystem
) -> None:
    before = snapshot(update_zip.parent)
    verdict = verify_update(update_zip, system)
    assert snapshot(update_zip.parent) == before
    assert verdict.ok, verdict
    (identity,) = system.keyring
    assert verdict.summary == (
        f"Update ChargeOS 0.3.0 for chargeos,qemu-x86_64 is signed by key {identity} and ready"
        " to install"
    )
    assert verdict.manifest is not None and verdict.manifest.version == "0.3.0"


def test_an_unsigned_zip_is_refused(uploads: Path, system: RunningSystem) -> None:
    path = put(uploads, assemble(members_for(manifest_for().to_bytes(), [])))
    verdict = refused(path, system, r"not signed")
    assert "manifest.sig.<key id>" in verdict.details[0]


def test_a_zip_signed_with_an_unknown_key_is_refused(uploads: Path, system: RunningSystem) -> None:
    stranger = Ed25519PrivateKey.generate()
    path = put(uploads, assemble(members_for(manifest_for().to_bytes(), [stranger])))
    verdict = refused(path, system, r"signed with a key this charger does not trust")
    assert next(iter(system.keyring)) in verdict.details[0]


def test_a_manifest_changed_after_signing_is_refused(
    uploads: Path, system: RunningSystem, signing_key: Ed25519PrivateKey
) -> None:
    original = manifest_for().to_bytes()
    members = members_for(original, [signing_key])
    changed = original.replace(b'"version": "0.3.0"', b'"version": "0.4.0"')
    members[1] = Raw(MANIFEST_NAME, changed)  # a correct CRC: edited, not damaged
    path = put(uploads, assemble(members))
    verdict = refused(path, system, r"manifest changed after signing or its signature is damaged")
    assert "does not match manifest.json" in verdict.details[0]


def test_a_flipped_payload_byte_is_refused(update_zip: Path, system: RunningSystem) -> None:
    content = bytearray(update_zip.read_bytes())
    content[content.index(PAYLOAD[:64]) + 1000] ^= 0x01
    path = put(update_zip.parent, bytes(content))
    verdict = refused(path, system, r"rootfs\.squashfs is damaged or was changed after signing")
    assert "damaged in transfer" in verdict.details[0]


def test_a_replaced_payload_with_a_fixed_zip_checksum_is_refused(
    uploads: Path, system: RunningSystem, signing_key: Ed25519PrivateKey
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    tampered = bytearray(PAYLOAD)
    tampered[5] ^= 0xFF
    members[-1] = Raw("rootfs.squashfs", bytes(tampered))
    path = put(uploads, assemble(members))
    verdict = refused(path, system, r"damaged or was changed after signing")
    assert "replaced after signing" in verdict.details[0]


def test_an_update_for_another_board_is_refused(
    update_zip: Path, signing_key: Ed25519PrivateKey
) -> None:
    system = system_for([signing_key.public_key()], compatible="chargeos,rpi-cm4")
    verdict = refused(update_zip, system, r"for another kind of charger \(chargeos,qemu-x86_64\)")
    assert "wrong compatible" in verdict.details[0]


def test_a_downgrade_below_the_floor_is_refused(
    update_zip: Path, signing_key: Ed25519PrivateKey
) -> None:
    system = system_for([signing_key.public_key()], version="0.5.0", min_version="0.4.0")
    refused(update_zip, system, r"downgrade below the version floor 0\.4\.0", force=True)


@pytest.mark.parametrize("keep", [0.5, 0.99, 100 / 300_000], ids=["half", "last bytes", "start"])
def test_a_truncated_zip_is_refused(update_zip: Path, system: RunningSystem, keep: float) -> None:
    content = update_zip.read_bytes()
    path = put(update_zip.parent, content[: int(len(content) * keep)])
    refused(path, system, r"The zip file is incomplete \(truncated\)")


def test_a_duplicate_member_is_refused(
    uploads: Path, system: RunningSystem, signing_key: Ed25519PrivateKey
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    decoy = Raw("rootfs.squashfs", b"\0" * 1000)  # what a lenient unzip would take last
    path = put(uploads, assemble([*members, decoy]))
    verdict = refused(path, system, r"holds rootfs\.squashfs more than once \(duplicate member\)")
    assert verdict.details == ["rootfs.squashfs: 2 times"]


def test_zipfile_writes_duplicates_too_and_they_are_refused(
    uploads: Path, system: RunningSystem
) -> None:
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "w") as zip_:
        zip_.writestr(FORMAT_MARKER_NAME, FORMAT_MARKER)
        zip_.writestr(FORMAT_MARKER_NAME, FORMAT_MARKER)
    refused(put(uploads, buffer.getvalue()), system, r"duplicate member")


UNSAFE = [
    ("../../etc/shadow", r"leads out of the folder"),
    ("/etc/shadow", r"an absolute path"),
    ("..\\..\\boot\\grubenv", r"leads out of the folder"),
    ("data\\rootfs", r"a backslash"),
    ("C:rootfs.squashfs", r"a drive or device name"),
    ("boot/", r"a folder"),
    ("etc/passwd", r"inside a folder"),
]


@pytest.mark.parametrize(("name", "why"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_unsafe_member_names_are_refused(
    uploads: Path,
    system: RunningSystem,
    signing_key: Ed25519PrivateKey,
    name: str,
    why: str,
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    path = put(uploads, assemble([*members, Raw(name, b"owned\n")]))
    verdict = refused(path, system, r"unsafe file names")
    assert verdict.details[0].startswith(repr(name)) and re.search(why, verdict.details[0])


def test_a_symlink_member_is_refused(
    uploads: Path, system: RunningSystem, signing_key: Ed25519PrivateKey
) -> None:
    members = members_for(manifest_for().to_bytes(), [signing_key])
    link = (stat.S_IFLNK | 0o777) << 16
    members[-1] = replace(members[-1], attributes=link)
    verdict = refused(put(uploads, assemble(members)), system, r"contains a symbolic link")
    assert verdict.details == ["rootfs.squashfs: a symbolic link"]


def test_a_deflated_payload_is_refused(
    uploads: Path, system: RunningSystem, signing_key: Ed25519PrivateKey
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zip_:
        for member in members_for(manifest_for().to_bytes(), [signing_key]):
            method = zipfile.ZIP_DEFLATED if member.name == "rootfs.squashfs" else 0
            info = zipfile.ZipInfo(member.name)
            info.external_attr = member.attributes
            zip_.writestr(info, member.data, compress_type=method)
    verdict = refused(put(uploads, buffer.getvalue()), system, r"compressed \(deflated\)")
    assert verdict.details[0].startswith("rootfs.squashfs: deflated")


def test_an_overlapping_entries_zip_bomb_is_refused(
    update_zip: Path, system: RunningSystem
) -> None:
    """The signature claims the bytes up to the payload's end: the payload's header and data
    are read twice (the overlapping-entries bomb, with stored members)."""
    content = bytearray(update_zip.read_bytes())
    with zipfile.ZipFile(update_zip) as archive:
        signature, payload = archive.infolist()[2:4]
    data_start = signature.header_offset + 30 + len(signature.filename)
    grown = payload.header_offset + 30 + len(payload.filename) + payload.file_size - data_start
    struct.pack_into("<II", content, signature.header_offset + 18, grown, grown)  # local sizes
    struct.pack_into("<II", content, _central(content, 2) + 20, grown, grown)  # central sizes
    verdict = refused(put(update_zip.parent, bytes(content)), system, r"overlap \(a zip bomb\)")
    assert "rootfs.squashfs starts at offset" in verdict.details[0]


def _central(content: bytearray, index: int) -> int:
    """Offset of the central directory header of member `index`."""
    start = int(struct.unpack_from("<I", content, len(content) - 22 + 16)[0])
    for _ in range(index):
        lengths = struct.unpack_from("<HHH", content, start + 28)
        start += 46 + sum(lengths)
    return start


def test_a_zip_with_thousands_of_entries_is_refused_before_reading_them(
    uploads: Path, system: RunningSystem
) -> None:
    members = [Raw(FORMAT_MARKER_NAME, FORMAT_MARKER)] + [
        Raw(f"f{index}", b"") for index in range(5000)
    ]
    verdict = refused(put(uploads, assemble(members)), system, r"5001 files, an update at most")
    assert "zip bomb" in verdict.details[0]


def test_a_payload_larger_than_the_slot_is_refused(
    update_zip: Path, signing_key: Ed25519PrivateKey
) -> None:
    system = system_for([signing_key.public_key()], slot_size_bytes=len(PAYLOAD) - 1)
    verdict = refused(update_zip, system, r"larger than this charger's system slot")
    assert f"{len(PAYLOAD)} bytes; slot: {len(PAYLOAD) - 1} bytes" in verdict.details[0]


def test_the_slot_check_applies_only_when_the_slot_size_is_known(
    update_zip: Path, signing_key: Ed25519PrivateKey
) -> None:
    system = system_for([signing_key.public_key()], slot_size_bytes=None)
    assert verify_update(update_zip, system).ok
