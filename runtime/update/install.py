"""Install a verified update zip into the inactive slot: the one install routine of every path
(web upload, OCPP firmware update, `python -m runtime.update install`).

Order, each step durable before the next (a power cut or SIGKILL at any instant leaves the
booted slot untouched and bootable, and the target either marked bad or fully verified):
verify → find the booted slot from the kernel command line → refuse a booted or mounted target →
install lock → status "installing" → mark the target bad in GRUB's environment → copy the
payload's stored bytes into the target → read the target back from storage and check the signed
SHA-256 → status "installed" → activate the target for one trial boot in a single environment
write (unless deferred).

The read-back hash is the one check after writing: it proves the storage holds exactly the signed
bytes, whatever happened in between (failing flash, or the zip replaced after it was verified).
Hashing only there (not also while writing) keeps an install near a bare `dd` of the same bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.boot import grubenv
from runtime.boot.slots import SlotError, SlotSet, other_slot
from runtime.update.status import UpdateStatus, read_status, write_status
from runtime.update.system import RunningSystem
from runtime.update.verify import verify_update
from runtime.update.ziplayout import Refused, read_members

CHUNK = 1024 * 1024
STEPS = ("verify", "lock", "mark-bad", "write-half", "write", "read-back", "status", "activate")
Progress = Callable[[str, float], None]  # (step, fraction of the whole install 0..1)


class InstallError(RuntimeError):
    """The update was not installed; the message says why in plain words."""


@dataclass(frozen=True)
class InstallResult:
    """What an install did."""

    version: str
    target_slot: str
    activated: bool
    status: UpdateStatus


def install_update(
    zip_path: Path,
    system: RunningSystem,
    slots: SlotSet,
    state_dir: Path,
    *,
    force: bool = False,
    activate: bool = True,
    progress: Progress | None = None,
    pause_after: str | None = None,
) -> InstallResult:
    """Verify then install `zip_path` into the slot that is not running; raises InstallError.

    `activate=False` installs but leaves the bootloader as it is (a charging session is open);
    `activate_installed` does the activation later. `pause_after` stops the process (SIGSTOP)
    after a step: the kill-matrix tests use it to cut the power at a known instant.
    """
    report = progress or (lambda step, fraction: None)
    verdict = verify_update(zip_path, system, force=force)
    if not verdict.ok or verdict.manifest is None:
        raise InstallError(verdict.summary)
    manifest = verdict.manifest
    _pause(pause_after, "verify")
    try:
        booted = slots.booted()
        target = other_slot(booted)
        slots.check_writable(target)
    except SlotError as error:
        raise InstallError(f"The update cannot be installed: {error}.") from None
    (payload,) = manifest.payloads
    if payload.size > slots.size(target):
        raise InstallError(f"The update ({payload.size} bytes) does not fit slot {target}.")
    with _install_lock(state_dir):
        _pause(pause_after, "lock")
        base = UpdateStatus(
            state="installing",
            version=manifest.version,
            from_version=system.version,
            from_slot=booted,
            target_slot=target,
        )
        write_status(state_dir, base)
        grubenv.update(slots.grubenv, {f"{target}_OK": "0", f"{target}_TRY": "0"})
        report("mark-bad", 0.02)
        _pause(pause_after, "mark-bad")
        try:
            with zip_path.open("rb") as file:
                offset = _payload_offset(file, payload.file)
                _write_slot(file, offset, slots.devices[target], payload.size, report,
                            pause_after)  # fmt: skip
            _pause(pause_after, "write")
            report("read-back", 0.87)
            if _read_back(slots.devices[target], payload.size) != payload.sha256:
                raise InstallError(
                    f"Slot {target} does not hold the signed update after writing: the storage"
                    " may be failing, or the update file changed while it was written. The"
                    " running system is unchanged."
                )
        except (InstallError, OSError) as error:
            write_status(state_dir, base.model_copy(update={"state": "failed",
                                                            "message": str(error)}))  # fmt: skip
            raise InstallError(str(error)) from None
        report("read-back", 0.97)  # read back and verified
        _pause(pause_after, "read-back")
        installed = write_status(
            state_dir,
            base.model_copy(update={"state": "installed", "activated": activate}),
        )
        _pause(pause_after, "status")
        if activate:
            _activate(slots, booted, target)
            _pause(pause_after, "activate")
        report("done", 1.0)
    return InstallResult(manifest.version, target, activate, installed)


def activate_installed(slots: SlotSet, state_dir: Path) -> UpdateStatus:
    """Activate an update installed with activate=False (the charging session has ended)."""
    status = read_status(state_dir)
    if status.state != "installed" or status.target_slot is None or status.from_slot is None:
        raise InstallError("There is no installed update waiting to be activated.")
    with _install_lock(state_dir):
        updated = write_status(state_dir, status.model_copy(update={"activated": True}))
        _activate(slots, status.from_slot, status.target_slot)
    return updated


def _activate(slots: SlotSet, booted: str, target: str) -> None:
    """One write: the target first in ORDER, OK for a trial, no tries yet."""
    grubenv.update(
        slots.grubenv, {"ORDER": f"{target} {booted}", f"{target}_OK": "1", f"{target}_TRY": "0"}
    )


def _payload_offset(file: BinaryIO, name: str) -> int:
    """Where the payload's stored bytes start, found again in the zip as it is now."""
    try:
        members = read_members(file, file.seek(0, 2))
    except Refused as refused:
        raise InstallError(
            f"The update file changed after it was verified: {refused.summary}"
        ) from None
    for member in members:
        if member.name == name:
            return member.offset
    raise InstallError(f"The update file changed after it was verified: {name} is gone.")


def _write_slot(
    file: BinaryIO,
    offset: int,
    device: Path,
    size: int,
    report: Progress,
    pause_after: str | None,
) -> None:
    """Copy `size` stored bytes from `offset` of the zip into the slot; fsync."""
    done = 0
    half_reported = False
    file.seek(offset)
    descriptor = os.open(device, os.O_WRONLY)
    try:
        while done < size and (chunk := file.read(min(CHUNK, size - done))):
            view = memoryview(chunk)
            while view:
                view = view[os.write(descriptor, view) :]
            done += len(chunk)
            report("write", 0.02 + 0.85 * done / max(size, 1))
            if not half_reported and done * 2 >= size:
                half_reported = True
                os.fsync(descriptor)
                _pause(pause_after, "write-half")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    if done != size:
        raise InstallError(f"The update's payload ended after {done} of {size} bytes.")


def _read_back(device: Path, size: int) -> str:
    """Read the slot from storage (not the page cache) and hash `size` bytes; the hash of one
    chunk runs in a thread (hashlib releases the GIL) while the next chunk is read."""
    digest = hashlib.sha256()
    descriptor = os.open(device, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        remaining = size
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-back") as hasher:
            hashing: Future[None] | None = None
            while remaining:
                chunk = os.read(descriptor, min(CHUNK, remaining))
                if not chunk:
                    break
                if hashing is not None:
                    hashing.result()
                hashing = hasher.submit(digest.update, chunk)
                remaining -= len(chunk)
            if hashing is not None:
                hashing.result()
    finally:
        os.close(descriptor)
    return digest.hexdigest()


def open_install_lock(state_dir: Path) -> int:
    """A descriptor to flock the install lock with: read-only and never through a link, as the
    privileged helper (root) opens it in a directory the services' user owns."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(state_dir / "install.lock", flags, 0o644)


@contextmanager
def _install_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = open_install_lock(state_dir)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InstallError("Another update is being installed right now.") from None
        yield
    finally:
        os.close(lock)


def _pause(pause_after: str | None, step: str) -> None:
    if pause_after == step:
        os.kill(os.getpid(), signal.SIGSTOP)
