"""The update zip's format v1: member names, the signed manifest and version numbers.

A ChargeOS update is an ordinary zip, every member stored uncompressed, in this order: the format
marker, `manifest.json`, one or more `manifest.sig.<keyid>` and the payloads. The manifest lists
each payload's size and SHA-256; the signatures cover the manifest's exact bytes.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

FORMAT: Literal[1] = 1
FORMAT_MARKER_NAME = "chargeos-update"
FORMAT_MARKER = b"chargeos-update 1\n"
MANIFEST_NAME = "manifest.json"
SIGNATURE_PREFIX = "manifest.sig."
SIGNATURE_BYTES = 64  # a raw Ed25519 signature
KEY_ID_PATTERN = r"[0-9a-f]{16}"  # first 16 hex digits of sha256(raw public key)
PAYLOAD_FILE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
PAYLOAD_FILES = {"rootfs": "rootfs.squashfs"}  # format 1: the one payload and its member name
MAX_MANIFEST_BYTES = 64 * 1024
VERSION_PATTERN = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")

Version = tuple[int, int, int]


class VersionError(ValueError):
    """A version number that is not MAJOR.MINOR.PATCH."""


def parse_version(text: str) -> Version:
    """`"0.2.0"` -> `(0, 2, 0)`; anything else raises VersionError saying what is expected."""
    match = VERSION_PATTERN.fullmatch(text)
    if match is None:
        raise VersionError(
            f"{text!r} is not a version: expected MAJOR.MINOR.PATCH, digits only and no leading"
            " zeros (e.g. 0.2.0)"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def format_version(version: Version) -> str:
    """`(0, 2, 0)` -> `"0.2.0"`."""
    return ".".join(str(part) for part in version)


def one_line(error: ValidationError) -> str:
    """A pydantic error as one readable line: `field.path: problem; other.field: problem`."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def signature_name(key_id: str) -> str:
    """The zip member holding the signature by the key `key_id`."""
    return f"{SIGNATURE_PREFIX}{key_id}"


def is_reserved(name: str) -> bool:
    """True for member names the format uses itself (never a payload's)."""
    return name in (FORMAT_MARKER_NAME, MANIFEST_NAME) or name.startswith(SIGNATURE_PREFIX)


class Payload(BaseModel):
    """One payload member: what it is for, its file name in the zip, its size and hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=32, description="Payload")
    file: str = Field(pattern=PAYLOAD_FILE_PATTERN, max_length=100, description="Member name")
    size: int = Field(ge=1, description="Size in bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (lowercase hex)")

    @field_validator("file")
    @classmethod
    def file_is_not_a_reserved_name(cls, file: str) -> str:
        """A payload never takes the marker's, the manifest's or a signature's name."""
        if is_reserved(file):
            raise ValueError(f"{file!r} is reserved for the update format itself")
        return file


class UpdateManifest(BaseModel):
    """manifest.json: what the update is, for which system, and its payloads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = Field(default=FORMAT, description="Update format")
    compatible: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]*(,[a-z0-9][a-z0-9._-]*)+$",
        max_length=100,
        description="Compatible systems, e.g. chargeos,qemu-x86_64",
    )
    version: str = Field(description="Version (MAJOR.MINOR.PATCH)")
    min_version: str = Field(description="Version floor this release sets")
    payloads: tuple[Payload, ...] = Field(min_length=1, max_length=4)
    build: dict[str, JsonValue] = Field(default_factory=dict, description="Build information")

    @field_validator("version", "min_version")
    @classmethod
    def version_is_major_minor_patch(cls, text: str) -> str:
        """Versions are MAJOR.MINOR.PATCH, digits only."""
        parse_version(text)
        return text

    @model_validator(mode="after")
    def floor_is_not_above_the_version(self) -> UpdateManifest:
        """A release cannot set a floor higher than itself."""
        if parse_version(self.min_version) > parse_version(self.version):
            raise ValueError(
                f"min_version {self.min_version} is above version {self.version}:"
                " the version floor cannot be higher than the release itself"
            )
        return self

    @model_validator(mode="after")
    def payload_names_and_files_are_unique(self) -> UpdateManifest:
        """Two payloads never share a name or a member."""
        for what in ("name", "file"):
            values = [getattr(payload, what) for payload in self.payloads]
            twice = sorted({value for value in values if values.count(value) > 1})
            if twice:
                raise ValueError(f"payload {what} listed twice: {', '.join(twice)}")
        return self

    @model_validator(mode="after")
    def format_1_carries_one_root_filesystem(self) -> UpdateManifest:
        """Format 1: exactly one payload, the root filesystem `rootfs`."""
        if [payload.name for payload in self.payloads] != ["rootfs"]:
            names = ", ".join(payload.name for payload in self.payloads)
            raise ValueError(f"format 1 carries exactly one payload named rootfs, not {names}")
        return self

    @property
    def parsed_version(self) -> Version:
        """The version as a comparable tuple."""
        return parse_version(self.version)

    def to_bytes(self) -> bytes:
        """The manifest.json bytes the writer signs: sorted keys, 2-space indent, final newline."""
        text = json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)
        return f"{text}\n".encode()
