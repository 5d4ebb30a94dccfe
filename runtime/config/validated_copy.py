"""The active profile for the services that only read it (evse, the simulation), without YAML
when nothing changed since the last start.

Parsing the YAML (twice: the alias and size guard, then the round-trip document) is the
dearest part of their start on the board's CPU, and both are on the way to a charger that
can charge. The first of them that validates a profile text leaves what the YAML parsed to (the
plain document the schema validated) in `run/`, as JSON, with the SHA-256 of the text and a
fingerprint of the schema; a later start that finds the same text and the same schema validates
that document again (no YAML parser is even imported), so it gets the very model the full path
gives. Anything else (another text, a changed schema or pydantic, a missing, garbled or partial
copy) takes the full path of `runtime.config.loader`, with its located errors, and leaves a
fresh copy. The copy holds what the profile holds and lies beside it on the data partition.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationError

import schemas
from runtime.config.atomic import atomic_write_text
from runtime.config.profile_file import read_capped
from schemas import Profile

log = logging.getLogger(__name__)

COPY_NAME = "profile.validated.json"


class ValidatedCopy(BaseModel):
    """What run/profile.validated.json holds."""

    model_config = ConfigDict(extra="forbid")

    text_sha256: str
    schema_fingerprint: str
    document: dict[str, Any]  # the YAML as plain JSON values, as runtime.config.loader made it


def copy_path(data_dir: Path) -> Path:
    """`<data_dir>/run/profile.validated.json`."""
    return data_dir / "run" / COPY_NAME


def schema_fingerprint() -> str:
    """SHA-256 over the schema package's sources and pydantic's version: a changed field,
    default or rule (or validator) makes every copy stale."""
    digest = hashlib.sha256(pydantic.VERSION.encode())
    for source in sorted(Path(schemas.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def load_active_profile(data_dir: Path, *, keep_copy: bool = True) -> Profile:
    """The validated profile of `data_dir`; raises ProfileInvalid as load_profile does.
    `keep_copy=False` only reads a copy (the root health check must not leave root's files)."""
    path = data_dir / "profile.yaml"
    try:
        data = read_capped(path)
    except OSError:
        data = None  # the full path reports it, located
    fingerprint = schema_fingerprint()
    if data is not None:
        text_sha256 = hashlib.sha256(data).hexdigest()
        copy = _read_copy(copy_path(data_dir))
        if copy is not None and (copy.text_sha256, copy.schema_fingerprint) == (
            text_sha256,
            fingerprint,
        ):
            try:
                return Profile.model_validate(copy.document)
            except ValidationError:
                log.warning("the validated profile's copy no longer validates; parsing the YAML")
    # Here, not at the top: the YAML parser's import is part of what a copy spares.
    from runtime.config.loader import load_profile, parse_profile
    from runtime.config.profile_text import decode_profile
    from runtime.config.yaml_io import to_plain

    if data is None:
        return load_profile(path).profile  # raises, located, for a file it cannot read
    # The very bytes that were hashed: a save in between cannot pair one text with another's hash.
    loaded = parse_profile(decode_profile(data, str(path)), str(path))
    document = to_plain(loaded.document)
    if keep_copy:
        _write_copy(data_dir, text_sha256, fingerprint, document)
    return loaded.profile


def _read_copy(path: Path) -> ValidatedCopy | None:
    try:
        return ValidatedCopy.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as error:
        log.warning("%s is not a usable copy of the validated profile (%s); parsing the YAML",
                    path, str(error).splitlines()[0])  # fmt: skip
        return None


def _write_copy(data_dir: Path, text_sha256: str, fingerprint: str, document: Any) -> None:
    path = copy_path(data_dir)
    try:
        copy = ValidatedCopy(
            text_sha256=text_sha256, schema_fingerprint=fingerprint, document=document
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, copy.model_dump_json() + "\n", mode=0o600)  # a Wi-Fi PSK too
    except (OSError, ValueError) as error:  # the next start parses the YAML again: slower only
        log.warning("cannot keep the validated profile at %s: %s", path, error)
