"""Verify an update zip before anything is written: the verify step of every OTA path.

`verify_update(path, system)` is callable alone (web upload, command line) and is the first step
of the installer. In order: a readable zip, its structure (ziplayout), the format marker, the
manifest, the signatures, compatible, the version policy, the payload sizes and finally each
payload's SHA-256. It only reads; every refusal says what and where in plain words.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.update.manifest import (
    FORMAT_MARKER,
    FORMAT_MARKER_NAME,
    KEY_ID_PATTERN,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_BYTES,
    SIGNATURE_PREFIX,
    Payload,
    UpdateManifest,
    VersionError,
    one_line,
    parse_version,
)
from runtime.update.system import RunningSystem
from runtime.update.ziplayout import Member, Refused, read_exactly, read_members

CHUNK_BYTES = 1024 * 1024
MB = 1e6


class Verdict(BaseModel):
    """What the verify step says about an update file, in words for the person who chose it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    summary: str
    details: list[str] = Field(default_factory=list)
    manifest: UpdateManifest | None = None  # set when ok: what the installer writes


def verify_update(path: Path, system: RunningSystem, *, force: bool = False) -> Verdict:
    """Check `path` against `system`; `force` allows reinstalling the running version."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            return _refused("The update file cannot be read.", f"{path.name}: not a file")
        if status.st_size == 0:
            return _refused("The file is empty: it is not an update zip.", "0 bytes received")
        with path.open("rb") as file:
            return _verify(file, status.st_size, system, force)
    except Refused as refused:
        return _refused(refused.summary, *refused.details)
    except OSError as error:
        return _refused("The update file cannot be read.", f"{path.name}: {error.strerror}")


def _verify(file: BinaryIO, size: int, system: RunningSystem, force: bool) -> Verdict:
    members = read_members(file, size)
    _check_marker(file, members[0])
    manifest_bytes = _small_member(file, members[1], MAX_MANIFEST_BYTES)
    manifest = _parse_manifest(manifest_bytes)
    signatures = [member for member in members if member.name.startswith(SIGNATURE_PREFIX)]
    signers = _check_signatures(file, signatures, manifest_bytes, system)
    _check_compatible(manifest, system)
    floor = _check_version(manifest, system, force)
    payload_members = members[2 + len(signatures) :]
    _check_payload_members(manifest, payload_members, system.slot_size_bytes)
    for payload, member in zip(manifest.payloads, payload_members, strict=True):
        _check_payload_hash(file, payload, member)
    payloads = manifest.payloads
    return Verdict(
        ok=True,
        summary=f"Update ChargeOS {manifest.version} for {manifest.compatible} is signed by key"
        f" {signers[0]} and ready to install",
        details=[
            f"version {manifest.version} (running {system.version}, version floor {floor})",
            *(f"{p.name}: {p.file}, {p.size / MB:.1f} MB, sha256 {p.sha256}" for p in payloads),
            f"signed by {', '.join(signers)}",
        ],
        manifest=manifest,
    )


def _check_marker(file: BinaryIO, member: Member) -> None:
    content = _small_member(file, member, len(FORMAT_MARKER) * 4)
    if content == FORMAT_MARKER:
        return
    if content.startswith(b"chargeos-update ") and content != FORMAT_MARKER:
        raise Refused(
            "This update is in a format this charger does not know: update ChargeOS step by step"
            " or ask for a format 1 update.",
            f"{FORMAT_MARKER_NAME}: {content[:40]!r}, this charger reads {FORMAT_MARKER!r}",
        )
    raise Refused(
        f"This zip is not a ChargeOS update: its {FORMAT_MARKER_NAME} marker is wrong.",
        f"{FORMAT_MARKER_NAME}: {content[:40]!r}, expected {FORMAT_MARKER!r}",
    )


def _small_member(file: BinaryIO, member: Member, limit: int) -> bytes:
    if member.size > limit:
        raise Refused(
            f"This zip is not a ChargeOS update: its {member.name} is far too large.",
            f"{member.name}: {member.size} bytes, at most {limit}",
        )
    data = read_exactly(file, member.offset, member.size)
    if zlib.crc32(data) != member.crc32:
        raise Refused(
            "The zip file is damaged: download the update again and retry.",
            f"{member.name}: CRC-32 {zlib.crc32(data):08x}, the zip says {member.crc32:08x}",
        )
    return data


def _parse_manifest(data: bytes) -> UpdateManifest:
    try:
        json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise Refused(
            f"The update's {MANIFEST_NAME} is not UTF-8 text.", f"{MANIFEST_NAME}: {error}"
        ) from None
    except ValueError as error:
        raise Refused(
            f"The update's {MANIFEST_NAME} is not valid JSON.", f"{MANIFEST_NAME}: {error}"
        ) from None
    try:
        return UpdateManifest.model_validate_json(data, strict=True)
    except ValidationError as error:
        problems = one_line(error).split("; ")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Refused(
            f"The update's {MANIFEST_NAME} is not valid: {problems[0]}{more}.",
            *(f"{MANIFEST_NAME}: {problem}" for problem in problems),
        ) from None


def _check_signatures(
    file: BinaryIO, members: Sequence[Member], manifest: bytes, system: RunningSystem
) -> list[str]:
    """The trusted keys that signed; refused when none did or a trusted key's signature fails."""
    if not system.keyring:
        where = (
            "a development system: no /etc/chargeos/system.json"
            if system.development
            else "no keys in /etc/chargeos/keyring"
        )
        raise Refused(
            "This charger has no update signing keys: it cannot verify any update.", where
        )
    signers, unknown = [], []
    for member in members:
        identity = member.name.removeprefix(SIGNATURE_PREFIX)
        if not re.fullmatch(KEY_ID_PATTERN, identity):
            raise Refused(
                "The update's signature files are misnamed: it is not a ChargeOS update.",
                f"{member.name}: expected {SIGNATURE_PREFIX} and a 16-digit key id",
            )
        signature = _small_member(file, member, SIGNATURE_BYTES)
        key = system.keyring.get(identity)
        if key is None:
            unknown.append(identity)
            continue
        try:
            key.verify(signature, manifest)
        except InvalidSignature:
            raise Refused(
                "The update cannot be trusted: its manifest changed after signing or its"
                " signature is damaged.",
                f"{member.name}: the signature by trusted key {identity} does not match"
                f" {MANIFEST_NAME}",
            ) from None
        signers.append(identity)
    if not signers:
        raise Refused(
            "The update is signed with a key this charger does not trust: it is not from the"
            " maker of this charger, or it was made for other chargers.",
            f"signed by {', '.join(unknown)}; this charger trusts {', '.join(system.keyring)}",
        )
    return signers


def _check_compatible(manifest: UpdateManifest, system: RunningSystem) -> None:
    if manifest.compatible != system.compatible:
        raise Refused(
            f"This update is for another kind of charger ({manifest.compatible}); this charger is"
            f" {system.compatible}.",
            f"{MANIFEST_NAME}: compatible {manifest.compatible!r}; this system:"
            f" {system.compatible!r} (wrong compatible)",
        )


def _check_version(manifest: UpdateManifest, system: RunningSystem, force: bool) -> str:
    """The version policy; returns the floor that applies."""
    try:
        running, floor = parse_version(system.version), parse_version(system.min_version)
    except VersionError as error:
        raise Refused("This charger's own version is unreadable.", str(error)) from None
    version = manifest.parsed_version
    if version < floor:
        raise Refused(
            f"Version {manifest.version} is refused: a downgrade below the version floor"
            f" {system.min_version}.",
            f"running {system.version}; no version below {system.min_version} installs again",
        )
    if version == running and not force:
        raise Refused(
            f"Version {manifest.version} is already running: there is nothing to install.",
            "reinstalling the same version needs --force",
        )
    return system.min_version


def _check_payload_members(
    manifest: UpdateManifest, members: Sequence[Member], slot_size: int | None
) -> None:
    listed = [payload.file for payload in manifest.payloads]
    found = [member.name for member in members]
    if found != listed:
        missing = [name for name in listed if name not in found]
        if missing:
            raise Refused(
                f"The update is incomplete: {', '.join(missing)} is missing from the zip.",
                f"{MANIFEST_NAME} lists {', '.join(listed)}; the zip holds {', '.join(found)}",
            )
        raise Refused(
            "This zip is not a ChargeOS update: it holds files its manifest does not list.",
            f"{MANIFEST_NAME} lists {', '.join(listed)}; the zip holds {', '.join(found)}",
        )
    for payload, member in zip(manifest.payloads, members, strict=True):
        if member.size != payload.size:
            raise Refused(
                f"The update is damaged: its {payload.file} does not have the signed size.",
                f"{payload.file}: {member.size} bytes; {MANIFEST_NAME} says {payload.size}",
            )
        if slot_size is not None and payload.size > slot_size:
            raise Refused(
                f"The update's {payload.name} ({payload.size / MB:.1f} MB) is larger than this"
                f" charger's system slot ({slot_size / MB:.1f} MB): it cannot be installed.",
                f"{payload.file}: {payload.size} bytes; slot: {slot_size} bytes",
            )


def _check_payload_hash(file: BinaryIO, payload: Payload, member: Member) -> None:
    """Stream the payload: its SHA-256 must be the signed one (a flipped byte ends here)."""
    digest, crc, remaining = hashlib.sha256(), 0, member.size
    file.seek(member.offset)
    # SHA-256 of one chunk in a thread while the CRC is computed and the next chunk read: both
    # release the GIL, so the pass costs the slower of the two, not their sum.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as hasher:
        hashing: Future[None] | None = None
        while remaining:
            chunk = file.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise Refused(
                    "The zip file is incomplete (truncated): download the update again and retry.",
                    f"{payload.file}: ends {remaining} bytes early",
                )
            if hashing is not None:
                hashing.result()
            hashing = hasher.submit(digest.update, chunk)
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        if hashing is not None:
            hashing.result()
    if crc != member.crc32 and digest.hexdigest() == payload.sha256:
        raise Refused(
            "The zip file is damaged: download the update again and retry.",
            f"{payload.file}: CRC-32 {crc:08x}, the zip says {member.crc32:08x}",
        )
    if digest.hexdigest() != payload.sha256:
        how = (
            "its zip checksum matches: the file was replaced after signing"
            if crc == member.crc32
            else "its zip checksum is wrong too: damaged in transfer"
        )
        raise Refused(
            f"The update's {payload.file} is damaged or was changed after signing: download the"
            " update again; do not install it if this happens again.",
            f"{payload.file}: SHA-256 {digest.hexdigest()}, the signed manifest says"
            f" {payload.sha256}; {how}",
        )


def _refused(summary: str, *details: str) -> Verdict:
    return Verdict(ok=False, summary=summary, details=list(details))
