"""The structure of an update zip, read from its central directory and every local header.

The zip module forgives what an update never contains (data before the first member, comments,
members sharing bytes, names that escape a directory); this reader forgives nothing. It yields
where each member's bytes are, so the verify step reads them itself, without decompressing.
"""

from __future__ import annotations

import re
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from runtime.update.manifest import FORMAT_MARKER_NAME, MANIFEST_NAME, SIGNATURE_PREFIX

LOCAL_SIGNATURE = b"PK\x03\x04"
CENTRAL_SIGNATURE = b"PK\x01\x02"
END_SIGNATURE = b"PK\x05\x06"
END = struct.Struct("<4sHHHHIIH")  # end of central directory record, APPNOTE 4.3.16
CENTRAL = struct.Struct("<4sBBHHHHHIIIHHHHHII")  # central directory header, APPNOTE 4.3.12
LOCAL = struct.Struct("<4sHHHHHIIIHH")  # local file header, APPNOTE 4.3.7
MAX_COMMENT = 0xFFFF
MAX_MEMBERS = 16  # marker, manifest, signatures (rotating keys) and payloads
MAX_CENTRAL_BYTES = MAX_MEMBERS * (CENTRAL.size + 0xFFFF)
FLAG_ENCRYPTED = 0x0001
FLAG_UTF8 = 0x0800  # the only flag an update may carry (APPNOTE 4.4.4 bit 11)
STORED = 0
UNIX = 3  # "version made by" upper byte, APPNOTE 4.4.2
ZIP_VERSION = 20  # APPNOTE 4.4.3: 2.0, what a stored member without ZIP64 needs
MEMBER_ATTRIBUTES = 0o644 << 16  # rw-r--r--, no file type: what the update writer sets
# (version made by, version needed, internal and external attributes) of every written member
WRITER_FIELDS = ((ZIP_VERSION, UNIX), ZIP_VERSION, 0, MEMBER_ATTRIBUTES)
MSDOS_DIRECTORY = 0x10
METHODS = {8: "deflated", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz"}
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
NOT_AN_UPDATE = "This zip is not a ChargeOS update"
REBUILD = "rebuild it with the ChargeOS update tool"


class Refused(Exception):
    """The zip cannot be an update: a summary for the person who chose it, and details."""

    def __init__(self, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = list(details)


@dataclass(frozen=True)
class Member:
    """One member as the central directory and its local header agree it is."""

    name: str
    offset: int  # of the member's data in the file
    size: int
    crc32: int


@dataclass(frozen=True)
class _Entry:
    name: str
    made_by: tuple[int, int]  # (zip specification version, system)
    needed: int
    flags: int
    method: int
    modified: tuple[int, int]  # DOS time and date
    crc32: int
    compressed: int
    size: int
    extra: int
    comment: int
    disk: int
    internal: int
    attributes: int
    header_offset: int


def read_members(file: BinaryIO, file_size: int) -> list[Member]:
    """Every member of the zip in `file`, in order; Refused says why the zip is not usable."""
    central_offset, count = _end_record(file, file_size)
    entries = _central_entries(file, central_offset, file_size - END.size - central_offset, count)
    _check_names(entries)
    _check_entries(entries)
    members = [_local_member(file, entry, central_offset) for entry in entries]
    _check_layout(members, entries, central_offset)
    return members


def read_exactly(file: BinaryIO, offset: int, size: int) -> bytes:
    """`size` bytes at `offset`; fewer is a truncated zip."""
    file.seek(offset)
    data = file.read(size)
    if len(data) != size:
        raise _truncated(f"{size} bytes expected at offset {offset}, {len(data)} found")
    return data


# ----- end record and central directory ------------------------------------------------------
def _end_record(file: BinaryIO, file_size: int) -> tuple[int, int]:
    tail_size = min(file_size, END.size + MAX_COMMENT)
    tail = read_exactly(file, file_size - tail_size, tail_size)
    position = tail.rfind(END_SIGNATURE)
    if position < 0 or position + END.size > len(tail):
        start = read_exactly(file, 0, min(file_size, 16))
        if start.startswith(LOCAL_SIGNATURE):
            raise _truncated("the zip's central directory is missing")
        raise Refused(
            "This is not a zip file: choose the update .zip you received for this charger.",
            f"no zip end record; the file starts with {start!r}",
        )
    fields = END.unpack_from(tail, position)
    _, disk, central_disk, on_disk, count, central_size, central_offset, comment = fields
    at = file_size - tail_size + position
    if at + END.size != file_size or comment:
        raise Refused(
            f"{NOT_AN_UPDATE}: it has a comment or data after its end.",
            f"{file_size - at - END.size} bytes after the end record ({comment} comment bytes);"
            f" {REBUILD}",
        )
    if 0xFFFF in (count, on_disk) or 0xFFFFFFFF in (central_size, central_offset):
        raise Refused(f"{NOT_AN_UPDATE}: it uses ZIP64, which updates never need.", f"{REBUILD}")
    if disk or central_disk or on_disk != count:
        raise Refused(f"{NOT_AN_UPDATE}: it is split over several disks.")
    if count > MAX_MEMBERS:
        raise Refused(
            f"{NOT_AN_UPDATE}: it has {count} files, an update at most {MAX_MEMBERS}.",
            "a zip with many entries can be a zip bomb",
        )
    if central_offset + central_size != at or central_size > MAX_CENTRAL_BYTES:
        raise _damaged(
            f"central directory of {central_size} bytes at offset {central_offset} does not end"
            f" where the end record is (offset {at})"
        )
    return central_offset, count


def _central_entries(file: BinaryIO, offset: int, size: int, count: int) -> list[_Entry]:
    data = read_exactly(file, offset, size)
    entries = []
    position = 0
    for index in range(count):
        if position + CENTRAL.size > size:
            raise _damaged(f"central directory ends inside entry {index + 1} of {count}")
        fields = CENTRAL.unpack_from(data, position)
        if fields[0] != CENTRAL_SIGNATURE:
            raise _damaged(f"central directory entry {index + 1} of {count} is not one")
        name_length, extra, comment = fields[11:14]
        start = position + CENTRAL.size
        position = start + name_length + extra + comment
        if position > size:
            raise _damaged(f"central directory ends inside entry {index + 1} of {count}")
        raw_name = data[start : start + name_length]
        entries.append(_entry(fields, _name(raw_name)))
    if position != size:
        raise _damaged(f"{size - position} unexplained bytes in the central directory")
    return entries


def _entry(fields: tuple[Any, ...], name: str) -> _Entry:
    (_, version, system, needed, flags, method, time, date, crc, compressed, size, _, extra,
     comment, disk, internal, attributes, header_offset) = fields  # fmt: skip
    return _Entry(
        name, (version, system), needed, flags, method, (time, date), crc, compressed, size,
        extra, comment, disk, internal, attributes, header_offset,
    )  # fmt: skip


def _name(raw: bytes) -> str:
    """Member names are ASCII; anything else is shown escaped, and refused as unsafe."""
    return raw.decode("ascii", errors="backslashreplace")


# ----- members one by one ---------------------------------------------------------------------
def _check_names(entries: Sequence[_Entry]) -> None:
    unsafe = [f"{entry.name!r}: {why}" for entry in entries if (why := _unsafe(entry.name))]
    if unsafe:
        raise Refused(f"{NOT_AN_UPDATE}: it has unsafe file names.", *unsafe)
    names = [entry.name for entry in entries]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise Refused(
            f"{NOT_AN_UPDATE}: it holds {twice[0]} more than once (duplicate member).",
            *(f"{name}: {names.count(name)} times" for name in twice),
        )
    if not names or names[0] != FORMAT_MARKER_NAME:
        raise Refused(
            f"{NOT_AN_UPDATE}: it does not start with the {FORMAT_MARKER_NAME} marker.",
            f"files in the zip: {', '.join(names[:6]) or 'none'}",
        )
    _check_order(names)


def _unsafe(name: str) -> str | None:
    reasons = (
        (name == "", "an empty name"),
        (not name.isascii() or not name.isprintable() or "\\x" in name, "not plain ASCII"),
        (name.startswith("/"), "an absolute path"),
        (".." in name.replace("\\", "/").split("/"), "leads out of the folder (..)"),
        ("\\" in name, "a backslash (Windows path)"),
        (":" in name, "a drive or device name"),
        (name.endswith("/"), "a folder"),
        ("/" in name, "inside a folder: update files are all at the top"),
        (not SAFE_NAME.fullmatch(name), "letters other than a-z 0-9 . _ -"),
    )
    return next((why for unsafe, why in reasons if unsafe), None)


def _check_order(names: Sequence[str]) -> None:
    expected = f"{FORMAT_MARKER_NAME}, {MANIFEST_NAME}, {SIGNATURE_PREFIX}<key id>..., payloads"
    if len(names) < 2 or names[1] != MANIFEST_NAME:
        where = "is missing" if MANIFEST_NAME not in names else "is not the second file"
        raise Refused(
            f"{NOT_AN_UPDATE}: its {MANIFEST_NAME} {where}.", f"expected order: {expected}"
        )
    signed = [index for index, name in enumerate(names) if name.startswith(SIGNATURE_PREFIX)]
    if not signed:
        raise Refused(
            "The update is not signed: it has no signature, so this charger cannot trust it.",
            f"no {SIGNATURE_PREFIX}<key id> file in the zip",
        )
    if signed != list(range(2, 2 + len(signed))):
        raise Refused(
            f"{NOT_AN_UPDATE}: its files are not in the update order.",
            f"expected order: {expected}; found: {', '.join(names)}",
        )


def _check_entries(entries: Sequence[_Entry]) -> None:
    for entry in entries:
        problem = _entry_problem(entry)
        if problem is not None:
            summary, detail = problem
            raise Refused(summary, f"{entry.name}: {detail}")


def _entry_problem(entry: _Entry) -> tuple[str, str] | None:
    kind = stat.S_IFMT(entry.attributes >> 16) if entry.made_by[1] == UNIX else 0
    if kind == stat.S_IFLNK:
        return f"{NOT_AN_UPDATE}: it contains a symbolic link.", "a symbolic link"
    if kind == stat.S_IFDIR or entry.attributes & MSDOS_DIRECTORY:
        return f"{NOT_AN_UPDATE}: it contains a folder.", "a folder"
    if kind not in (0, stat.S_IFREG):
        return f"{NOT_AN_UPDATE}: it contains a special file.", f"file type {kind:o}"
    if entry.flags & FLAG_ENCRYPTED:
        return f"{NOT_AN_UPDATE}: it is encrypted (password-protected).", "encrypted"
    if entry.method != STORED:
        method = METHODS.get(entry.method, f"compression method {entry.method}")
        return (
            f"{NOT_AN_UPDATE}: its files are compressed ({method}); updates are stored"
            f" uncompressed, so a compressed member is refused rather than unpacked.",
            f"{method}; {REBUILD}",
        )
    if entry.flags & ~FLAG_UTF8:
        return f"{NOT_AN_UPDATE}: it uses zip features updates never use.", (
            f"general purpose flags {entry.flags:#06x}"
        )
    if entry.compressed != entry.size:
        return _damaged_summary(), f"stored size {entry.compressed} but size {entry.size}"
    if entry.extra or entry.comment or entry.disk:
        return f"{NOT_AN_UPDATE}: it carries zip extras updates never carry.", (
            f"{entry.extra} extra field bytes, {entry.comment} comment bytes, disk {entry.disk};"
            f" {REBUILD}"
        )
    written = (entry.made_by, entry.needed, entry.internal, entry.attributes)
    if written != WRITER_FIELDS:
        return f"{NOT_AN_UPDATE}: it was not written by the ChargeOS update tool.", (
            f"(version made by, version needed, internal, external attributes) {written},"
            f" the tool writes {WRITER_FIELDS}; {REBUILD}"
        )
    return None


def _local_member(file: BinaryIO, entry: _Entry, central_offset: int) -> Member:
    if entry.header_offset + LOCAL.size > central_offset:
        raise _damaged(f"{entry.name}: its header lies outside the members' area")
    fields = LOCAL.unpack(read_exactly(file, entry.header_offset, LOCAL.size))
    signature, needed, flags, method, time, date, crc, compressed, size, name_length, extra = fields
    name = _name(read_exactly(file, entry.header_offset + LOCAL.size, name_length))
    if signature != LOCAL_SIGNATURE:
        raise _damaged(f"{entry.name}: no local header at offset {entry.header_offset}")
    if name != entry.name:
        raise Refused(
            f"{NOT_AN_UPDATE}: a file has two different names inside the zip.",
            f"central directory: {entry.name!r}; local header: {name!r}",
        )
    local = (needed, flags, method, (time, date), crc, compressed, size, extra)
    central = (
        entry.needed, entry.flags, entry.method, entry.modified, entry.crc32, entry.compressed,
        entry.size, 0,
    )  # fmt: skip
    if local != central:
        raise _damaged(
            f"{entry.name}: local header (version needed, flags, method, date, CRC, sizes, extra)"
            f" {local} differs from the central directory's {central}"
        )
    data_offset = entry.header_offset + LOCAL.size + name_length
    return Member(entry.name, data_offset, entry.size, entry.crc32)


def _check_layout(members: Sequence[Member], entries: Sequence[_Entry], end: int) -> None:
    """Members follow each other from offset 0 to the central directory: no gaps, no overlap."""
    expected = 0
    for member, entry in zip(members, entries, strict=True):
        if entry.header_offset < expected:
            raise Refused(
                f"{NOT_AN_UPDATE}: its files overlap (a zip bomb).",
                f"{member.name} starts at offset {entry.header_offset}, inside the previous"
                f" file, which ends at {expected}",
            )
        if entry.header_offset > expected:
            raise Refused(
                f"{NOT_AN_UPDATE}: it hides data between its files.",
                f"{entry.header_offset - expected} bytes before {member.name}",
            )
        expected = member.offset + member.size
    if expected > end:
        raise Refused(
            f"{NOT_AN_UPDATE}: its files overlap (a zip bomb).",
            f"{members[-1].name} runs {expected - end} bytes into the central directory",
        )
    if expected < end:
        raise Refused(
            f"{NOT_AN_UPDATE}: it hides data between its files.",
            f"{end - expected} bytes before the central directory",
        )


def _damaged_summary() -> str:
    return "The zip file is damaged: download the update again and retry."


def _damaged(*details: str) -> Refused:
    return Refused(_damaged_summary(), *details)


def _truncated(*details: str) -> Refused:
    return Refused(
        "The zip file is incomplete (truncated): download the update again and retry.", *details
    )
