"""Write a signed update zip (format v1) from payload files and signing keys.

Payloads are streamed twice (hashed for the manifest, then copied and hashed again, so a file
that changes meanwhile is caught) and never held in memory. The zip is deterministic: fixed
member order, dates from SOURCE_DATE_EPOCH, fixed attributes; it appears under its name only
when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update.keys import key_id
from runtime.update.manifest import (
    FORMAT_MARKER,
    FORMAT_MARKER_NAME,
    MANIFEST_NAME,
    PAYLOAD_FILES,
    Payload,
    UpdateManifest,
    signature_name,
)
from runtime.update.ziplayout import MEMBER_ATTRIBUTES, UNIX

CHUNK_BYTES = 1024 * 1024
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
MAX_PAYLOAD_BYTES = 1900 * 1024 * 1024  # format 1 has no ZIP64 (zipfile needs it from ~1.95 GiB)


class PackageError(ValueError):
    """The update cannot be written as asked; the message says which input is wrong."""


def write_update_zip(
    output: Path,
    manifest: UpdateManifest | Mapping[str, Any],
    payload_paths: Mapping[str, Path],
    signing_keys: Sequence[Ed25519PrivateKey],
) -> UpdateManifest:
    """Write the signed update zip `output`; returns the manifest it carries.

    `manifest` is an UpdateManifest (its payload sizes and hashes are recomputed) or its fields
    without `payloads` (compatible, version, min_version, build). `payload_paths` maps each
    payload name (`rootfs`) to its file.
    """
    if not signing_keys:
        raise PackageError("an update needs at least one signing key")
    identities = [key_id(key.public_key()) for key in signing_keys]
    if len(set(identities)) != len(identities):
        raise PackageError(f"a signing key is given twice: {', '.join(identities)}")
    final = _with_payloads(manifest, payload_paths)
    manifest_bytes = final.to_bytes()
    members: list[tuple[str, bytes]] = [
        (FORMAT_MARKER_NAME, FORMAT_MARKER),
        (MANIFEST_NAME, manifest_bytes),
        *(
            (signature_name(identity), key.sign(manifest_bytes))
            for identity, key in zip(identities, signing_keys, strict=True)
        ),
    ]
    with _replacing(output) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(_info(name, len(data)), data)
        for payload in final.payloads:
            _copy_payload(archive, payload, payload_paths[payload.name])
    return final


def _with_payloads(
    manifest: UpdateManifest | Mapping[str, Any], paths: Mapping[str, Path]
) -> UpdateManifest:
    if isinstance(manifest, UpdateManifest):
        files = {payload.name: payload.file for payload in manifest.payloads}
        fields = manifest.model_dump(exclude={"payloads"})
    else:
        files, fields = PAYLOAD_FILES, dict(manifest)
    unknown = sorted(set(paths) - set(files))
    if unknown:
        raise PackageError(f"unknown payload {', '.join(unknown)}: known are {', '.join(files)}")
    payloads = [_measured(name, files[name], path) for name, path in paths.items()]
    return UpdateManifest.model_validate({**fields, "payloads": payloads})


def _measured(name: str, file: str, path: Path) -> Payload:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        for chunk in _chunks(source):
            digest.update(chunk)
            size += len(chunk)
    if size > MAX_PAYLOAD_BYTES:
        raise PackageError(f"{path}: {size} bytes, format 1 carries at most {MAX_PAYLOAD_BYTES}")
    return Payload(name=name, file=file, size=size, sha256=digest.hexdigest())


def _copy_payload(archive: zipfile.ZipFile, payload: Payload, path: Path) -> None:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source, archive.open(_info(payload.file, payload.size), "w") as out:
        for chunk in _chunks(source):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != payload.size or digest.hexdigest() != payload.sha256:
        raise PackageError(f"{path} changed while the update was written: build it again")


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def _info(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=member_date())
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = UNIX
    info.external_attr = MEMBER_ATTRIBUTES
    info.file_size = size  # known in advance: no ZIP64 and no data descriptor
    return info


def member_date(environ: Mapping[str, str] = os.environ) -> tuple[int, int, int, int, int, int]:
    """The members' date: SOURCE_DATE_EPOCH (UTC) when set, else 1980-01-01 00:00."""
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return ZIP_EPOCH
    try:
        moment = time.gmtime(int(epoch))
    except (ValueError, OverflowError):
        raise PackageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds") from None
    year, month, day, hour, minute, second = moment[:6]
    return max(ZIP_EPOCH, (year, month, day, hour, minute, second))


@contextlib.contextmanager
def _replacing(output: Path) -> Iterator[BinaryIO]:
    """A temp file beside `output`, renamed over it when complete and synced, else removed."""
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{output.name}.tmp-", dir=output.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "w+b") as file:
            yield file
            file.flush()
            os.fchmod(file.fileno(), 0o644)
            os.fsync(file.fileno())
        temp.replace(output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
