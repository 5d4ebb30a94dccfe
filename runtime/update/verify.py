"""Verify an update zip before anything is written: the verify-only step of the OTA path.

`verify_update(path)` is callable alone (web upload, OCPP firmware update, command line). It
already refuses what is plainly not a ChargeOS update — empty, not a zip, truncated or corrupt,
unsafe member names, no manifest.json — and says so in plain words. Signature and payload checks
belong to the OTA installer, which is not part of this version: a well-formed zip is therefore
answered "cannot be installed yet", never with a fake success.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "manifest.json"
ZIP_LOCAL_HEADER = b"PK\x03\x04"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 16 * 1024**3  # far above any root filesystem payload: a zip bomb
NOT_INSTALLABLE_YET = (
    "Updates cannot be installed yet: the OTA installer is not part of this version"
)


class Verdict(BaseModel):
    """What the verify step says about an update file, in words for the person who chose it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    summary: str
    details: list[str] = Field(default_factory=list)


def verify_update(path: Path) -> Verdict:
    """Check that `path` is a readable ChargeOS update zip; the verdict says why not."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return _refused("The update file cannot be read.", f"{path.name}: {error.strerror}")
    if size == 0:
        return _refused("The file is empty: it is not an update zip.", "0 bytes received")
    try:
        return _verify_zip(path)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        return _refused(
            "The zip file is damaged or incomplete: download the update again and retry.",
            str(error),
        )
    except (NotImplementedError, RuntimeError) as error:  # unknown compression, encryption
        return _refused("The zip file uses features an update never uses.", str(error))
    except OSError as error:
        return _refused("The update file cannot be read.", str(error))


def _verify_zip(path: Path) -> Verdict:
    if not zipfile.is_zipfile(path):
        with path.open("rb") as file:
            starts_like_zip = file.read(len(ZIP_LOCAL_HEADER)) == ZIP_LOCAL_HEADER
        if starts_like_zip:
            return _refused(
                "The zip file is incomplete (truncated): download the update again and retry.",
                "the zip's central directory is missing",
            )
        return _refused(
            "This is not a zip file: choose the update .zip you received for this charger.",
        )
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        unsafe = [m.filename for m in members if not _safe_member(m.filename)]
        if unsafe:
            return _refused("The zip has unsafe file names: it is not a ChargeOS update.", *unsafe)
        declared = sum(member.file_size for member in members)
        if declared > MAX_UNCOMPRESSED_BYTES:
            return _refused(
                "The zip unpacks to far more than any update: it is not a ChargeOS update.",
                f"{declared / 1024**3:.1f} GiB uncompressed",
            )
        corrupt = archive.testzip()
        if corrupt is not None:
            return _refused(
                "The zip file is damaged: download the update again and retry.",
                f"{corrupt}: checksum mismatch",
            )
        names = {member.filename for member in members}
        if MANIFEST not in names:
            return _refused(
                f"This zip is not a ChargeOS update: it has no {MANIFEST}.",
                f"{_files(len(members))}, none named {MANIFEST}",
            )
        manifest_info = archive.getinfo(MANIFEST)
        if manifest_info.file_size > MAX_MANIFEST_BYTES:
            return _refused(f"The update's {MANIFEST} is too large to be a manifest.")
        manifest = archive.read(MANIFEST)
    try:
        content = json.loads(manifest)
    except ValueError as error:  # UnicodeDecodeError included
        return _refused(f"The update's {MANIFEST} is not valid JSON.", str(error))
    if not isinstance(content, dict):
        return _refused(f"The update's {MANIFEST} is not a JSON object.")
    return Verdict(ok=False, summary=NOT_INSTALLABLE_YET, details=_described(content, members))


def _described(manifest: dict[str, object], members: list[zipfile.ZipInfo]) -> list[str]:
    unpacked_mb = sum(m.file_size for m in members) / 1e6
    found = [f"{_files(len(members))}, {unpacked_mb:.1f} MB unpacked"]
    for key in ("version", "board"):
        value = manifest.get(key)
        if isinstance(value, str | int | float):
            found.append(f"{key}: {value}")
    return found


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _safe_member(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return not name.startswith(("/", "\\")) and ".." not in parts and ":" not in name


def _refused(summary: str, *details: str) -> Verdict:
    return Verdict(ok=False, summary=summary, details=list(details))
