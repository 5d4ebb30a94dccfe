"""Receiving an update upload: streamed into the uploads directory, one at a time, within the
profile's size cap and the free space, under a name the server chooses, deleted afterwards.

The data partition always keeps FREE_SPACE_RESERVE free: an announced length that does not fit
is refused before a byte is written, and a stream that would eat into the reserve is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, MultipartReader, web

from runtime.update import Verdict

log = logging.getLogger(__name__)

MB = 1024 * 1024
CHUNK_BYTES = 256 * 1024
UPLOAD_FIELD = "update"
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file
FREE_SPACE_RESERVE = 16 * MB  # what the data partition keeps for transactions and logs


class UploadRefused(Exception):
    """An upload that ends before a verdict; the answer's status and words."""

    def __init__(self, status: int, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.status = status
        self.verdict = Verdict(ok=False, summary=summary, details=list(details))


@contextlib.asynccontextmanager
async def received_upload(
    request: web.Request, uploads: Path, limit: int
) -> AsyncIterator[tuple[Path, int]]:
    """The uploaded file and its size while the block runs; deleted after, whatever happens."""
    declared = request.content_length
    if declared is not None and declared > limit + MULTIPART_SLACK:
        raise too_large(limit)
    if request.content_type != "multipart/form-data":
        raise no_file()
    await asyncio.to_thread(uploads.mkdir, mode=0o700, parents=True, exist_ok=True)
    with upload_slot(uploads) as free:
        if not free:
            raise UploadRefused(409, "Another update is being uploaded: wait until it is done.")
        await asyncio.to_thread(_remove_leftovers, uploads)
        if declared is not None:
            _check_space(uploads, declared)
        path = uploads / f"update-{secrets.token_hex(8)}.zip"  # never the browser's file name
        try:
            size = await _receive(request, path, limit)
            yield path, size
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)


async def _receive(request: web.Request, path: Path, limit: int) -> int:
    try:
        part = await _file_part(await request.multipart())
    except ValueError as error:
        raise no_file(str(error)) from None
    size = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a new file only
    with os.fdopen(descriptor, "wb") as file:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            await asyncio.to_thread(_write_within_reserve, file, chunk, path.parent)
    return size


def _write_within_reserve(file: BinaryIO, chunk: bytes, directory: Path) -> None:
    free = shutil.disk_usage(directory).free
    if free - len(chunk) < FREE_SPACE_RESERVE:
        reserve = f"{FREE_SPACE_RESERVE // MB} MB must stay free"
        raise _disk_full(f"{free / MB:.0f} MB free, {len(chunk)} bytes to write; {reserve}")
    try:
        file.write(chunk)
    except OSError as error:
        raise _disk_full(str(error)) from None


async def _file_part(reader: MultipartReader) -> BodyPartReader:
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name == UPLOAD_FIELD:
            log.info("receiving an update the browser calls %r", part.filename)
            return part
        await part.release()
    raise no_file()


@contextlib.contextmanager
def upload_slot(directory: Path) -> Iterator[bool]:
    """One upload at a time (an advisory lock on the directory, released if we die)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)


def _remove_leftovers(directory: Path) -> None:
    for leftover in directory.glob("update-*.zip"):
        log.warning("removing %s left by an interrupted upload", leftover.name)
        leftover.unlink(missing_ok=True)


def _check_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed + FREE_SPACE_RESERVE:
        raise UploadRefused(
            507,
            "Not enough free space on the charger for this update.",
            f"{free / MB:.0f} MB free; the upload needs up to {needed / MB:.0f} MB"
            f" and {FREE_SPACE_RESERVE // MB} MB stay free for transactions and logs",
        )


def _disk_full(*details: str) -> UploadRefused:
    return UploadRefused(
        507,
        "The charger's storage is too full for this update: the upload was stopped and"
        " nothing was kept. Try again later; if it stays full, have the charger serviced.",
        *details,
    )


def too_large(limit: int) -> UploadRefused:
    """The answer to a file over the profile's cap."""
    return UploadRefused(
        413,
        f"The file is larger than the {limit // MB} MB this charger accepts: it is not an update"
        " for this charger. Nothing was kept.",
    )


def no_file(*details: str) -> UploadRefused:
    """The answer to a request without the update file."""
    return UploadRefused(
        400, "No update file received: choose the update .zip, then Install Update.", *details
    )
