"""The editable profile on the device: validated reads, staged edits and atomic saves.

Every edit is applied to a copy of the round-trip document and validated as a whole profile
before the store takes it; `save()` validates again and writes atomically, so the file on disk
is always a valid profile, and a rejected change leaves both the store and the file as they were.
A write the disk refuses (full, I/O error) drops the edit too: the store goes back to the file.
"""

from __future__ import annotations

import copy
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.config.atomic import (
    DEFAULT_MODE,
    atomic_write_text,
    remove_stale_temp_files,
)
from runtime.config.errors import ProfileInvalid
from runtime.config.loader import LoadedProfile, load_profile, parse_profile
from runtime.config.yaml_edit import ConfigPathError, assign, lookup, split_path
from runtime.config.yaml_io import dump_document, to_plain
from schemas import Profile


class ProfileNotSaved(Exception):
    """The data partition refused to write the profile; the store holds what the file holds."""

    def __init__(self, path: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        super().__init__(
            f"The settings were not saved: the data partition refused the write of {path}"
            f" ({reason}); nothing was changed. Free space on the data partition or check it"
            " (Admin page: system logs), then save again."
        )
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class _Snapshot:
    """A profile text and what it parsed to; the store only ever holds valid snapshots."""

    text: str
    loaded: LoadedProfile


class ConfigStore:
    """One profile file. Plain blocking methods, safe across threads (use asyncio.to_thread)."""

    def __init__(self, path: Path, loaded: LoadedProfile) -> None:
        self._path = path
        self._lock = threading.RLock()
        self._saved = _Snapshot(dump_document(loaded.document), loaded)
        self._current = self._saved

    @classmethod
    def open(cls, path: Path) -> ConfigStore:
        """Load and validate the profile at `path`, first removing temp files of a crashed save."""
        remove_stale_temp_files(path)
        return cls(path, load_profile(path))

    @property
    def path(self) -> Path:
        """The profile file this store writes."""
        return self._path

    @property
    def profile(self) -> Profile:
        """The validated profile, including edits not saved yet."""
        return self._current.loaded.profile

    @property
    def text(self) -> str:
        """The profile as YAML text, exactly as `save()` writes it."""
        return self._current.text

    def get(self, path: str) -> Any:
        """The value at a dotted path as plain data; a key the file omits gives its default."""
        with self._lock:
            loaded = self._current.loaded
            try:
                return to_plain(lookup(loaded.document, path))
            except ConfigPathError:
                return _lookup_plain(loaded.profile.model_dump(mode="json", by_alias=True), path)

    def set(self, path: str, value: Any) -> None:
        """Change one value; raises ProfileInvalid and changes nothing if the result is invalid."""
        self.update({path: value})

    def update(self, changes: Mapping[str, Any]) -> None:
        """Change several values at once, validated together; all or nothing."""
        with self._lock:
            document = copy.deepcopy(self._current.loaded.document)
            for path, value in changes.items():
                assign(document, path, value)
            self._current = self._validated(dump_document(document))

    def save(self) -> None:
        """Write the edits: validate the exact text, then replace the file atomically.
        ProfileNotSaved when the disk refuses; the edits are dropped then."""
        with self._lock:
            current = self._current
            if current.text == self._saved.text:
                return
            try:
                parse_profile(current.text, self._source)
            except ProfileInvalid:
                self._current = self._saved
                raise
            self._write(current)

    def apply(self, changes: Mapping[str, Any]) -> None:
        """`update` then `save`, as one step no other thread comes between; all or nothing."""
        with self._lock:
            self.update(changes)
            self.save()

    def reset_to(self, text: str) -> None:
        """Replace the whole profile with `text` (e.g. the default profile), validated first."""
        with self._lock:
            self._write(self._validated(text))

    def _write(self, snapshot: _Snapshot) -> None:
        try:
            atomic_write_text(self._path, snapshot.text, self._file_mode())
        except OSError as error:
            self._saved = self._current = self._on_disk()
            raise ProfileNotSaved(self._path, error) from error
        self._saved = self._current = snapshot

    def _on_disk(self) -> _Snapshot:
        """What the file holds after a failed write (the rename may have happened before the
        failure); the last saved snapshot when the file cannot be read back."""
        try:
            loaded = load_profile(self._path)
        except ProfileInvalid:
            return self._saved
        return _Snapshot(dump_document(loaded.document), loaded)

    @property
    def _source(self) -> str:
        return str(self._path)

    def _validated(self, text: str) -> _Snapshot:
        return _Snapshot(text, parse_profile(text, self._source))

    def _file_mode(self) -> int:
        try:
            return stat.S_IMODE(self._path.stat().st_mode)
        except FileNotFoundError:
            return DEFAULT_MODE


def _lookup_plain(data: Any, path: str) -> Any:
    """Walk plain dicts and lists (a model dump) along a dotted path."""
    node = data
    for segment in split_path(path):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            raise ConfigPathError(f"{path}: no such setting in the profile")
    return node
