"""Update zips and systems for the OTA tests: a real signed zip, a fake system root, and a raw
zip assembler for the hostile zips the zip module refuses to write (or writes too politely).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from runtime.update.keys import key_id, public_pem
from runtime.update.manifest import (
    FORMAT_MARKER,
    FORMAT_MARKER_NAME,
    MANIFEST_NAME,
    Payload,
    UpdateManifest,
    signature_name,
)
from runtime.update.system import KEYRING_DIR, SYSTEM_FILE, RunningSystem

PAYLOAD = random.Random(6).randbytes(256 * 1024)  # a small stand-in for the root filesystem
COMPATIBLE = "chargeos,qemu-x86_64"
RUNNING = "0.2.0"
FLOOR = "0.1.0"
SLOT_BYTES = 1024 * 1024
FIELDS: Mapping[str, Any] = {
    "compatible": COMPATIBLE,
    "version": "0.3.0",
    "min_version": "0.2.0",
    "build": {"board": "qemu-x86_64", "source_date_epoch": 1700000000},
}
UNIX_FILE = 0o644 << 16


def system_for(
    keys: Iterable[Ed25519PublicKey], *, slot_size_bytes: int | None = SLOT_BYTES, **changes: Any
) -> RunningSystem:
    """A running ChargeOS 0.2.0 (floor 0.1.0) on qemu-x86_64 trusting `keys`."""
    system = RunningSystem(
        compatible=COMPATIBLE,
        version=RUNNING,
        min_version=FLOOR,
        keyring={key_id(key): key for key in keys},
        slot_size_bytes=slot_size_bytes,
    )
    return replace(system, **changes)


def write_system_root(root: Path, keys: Iterable[Ed25519PublicKey], **changes: Any) -> Path:
    """An image's /etc/chargeos (system.json and keyring) under `root`."""
    info = {
        "name": "ChargeOS",
        "version": RUNNING,
        "min_version": FLOOR,
        "board": "qemu-x86_64",
        "compatible": COMPATIBLE,
        "source_date_epoch": 1700000000,
        **changes,
    }
    (root / KEYRING_DIR).mkdir(parents=True, exist_ok=True)
    (root / SYSTEM_FILE).write_text(json.dumps(info), encoding="utf-8")
    for key in keys:
        (root / KEYRING_DIR / f"{key_id(key)}.pub").write_bytes(public_pem(key))
    return root


def manifest_for(payload: bytes = PAYLOAD, **changes: Any) -> UpdateManifest:
    """The manifest of an update carrying `payload` (fields changed as asked, unvalidated)."""
    fields = {
        **FIELDS,
        "payloads": (
            Payload(
                name="rootfs",
                file="rootfs.squashfs",
                size=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
            ),
        ),
    }
    return UpdateManifest.model_construct(**{**fields, **changes})


@dataclass(frozen=True)
class Raw:
    """One member of a hand-made zip; every field can be made hostile."""

    name: str
    data: bytes
    method: int = 0
    flags: int = 0
    attributes: int = UNIX_FILE
    made_by: int = (3 << 8) | 20
    local_name: str | None = None
    crc: int | None = None
    size: int | None = None  # the size both headers declare; None: len(data)


def members_for(
    manifest: bytes,
    keys: Sequence[Ed25519PrivateKey],
    payload: bytes = PAYLOAD,
    *,
    signatures: Mapping[str, bytes] | None = None,
) -> list[Raw]:
    """The members of an update in order: marker, manifest, signatures, rootfs."""
    signed = dict(signatures or {})
    for key in keys:
        signed[key_id(key.public_key())] = key.sign(manifest)
    return [
        Raw(FORMAT_MARKER_NAME, FORMAT_MARKER),
        Raw(MANIFEST_NAME, manifest),
        *(Raw(signature_name(identity), signature) for identity, signature in signed.items()),
        Raw("rootfs.squashfs", payload),
    ]


def assemble(members: Sequence[Raw]) -> bytes:
    """A zip written byte by byte: local headers and data, central directory, end record."""
    body, central = bytearray(), bytearray()
    for member in members:
        name = member.name.encode("utf-8", errors="surrogateescape")
        local_name = (member.local_name or member.name).encode()
        crc = zlib.crc32(member.data) if member.crc is None else member.crc
        size = len(member.data) if member.size is None else member.size
        common = (20, member.flags, member.method, 0, 0x21, crc, size, size)
        offset = len(body)
        body += struct.pack("<4sHHHHHIII", b"PK\x03\x04", *common)
        body += struct.pack("<HH", len(local_name), 0) + local_name + member.data
        central += struct.pack("<4sH", b"PK\x01\x02", member.made_by)
        central += struct.pack("<HHHHHIII", *common)
        central += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, member.attributes, offset)
        central += name
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0
    )
    return bytes(body + central + end)


def snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under `directory` with its size, mtime and a CRC of its bytes."""
    return {
        str(path.relative_to(directory)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            zlib.crc32(path.read_bytes()) if path.is_file() else 0,
        )
        for path in sorted(directory.rglob("*"))
    }


def damage_payload(update_zip: Path, offset: int = 1000) -> None:
    """Flip one byte inside the stored root filesystem payload: the zip still opens, its hash
    no longer matches the signed manifest."""
    with zipfile.ZipFile(update_zip) as archive:
        member = archive.getinfo("rootfs.squashfs")
    data = bytearray(update_zip.read_bytes())
    data[member.header_offset + 30 + len(member.filename) + len(member.extra) + offset] ^= 0xFF
    update_zip.write_bytes(bytes(data))
