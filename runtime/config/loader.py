"""Load a profile: YAML text → round-trip document → validated `Profile`.

Every way a profile enters ChargeOS (build.py, the services, the web configurator, first boot)
goes through `parse_profile`, so every caller gets the same located, complete error list; files
are read by runtime.config.profile_text, which refuses hostile text before YAML builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from runtime.config.errors import ProfileError, ProfileInvalid, errors_from_validation
from runtime.config.profile_text import check_profile_text, read_profile_text
from runtime.config.yaml_io import load_document, to_plain
from schemas import Profile

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedProfile:
    """A profile as written (round-trip document) and as validated (model)."""

    document: CommentedMap
    profile: Profile
    source: str


def parse_profile(text: str, source: str) -> LoadedProfile:
    """Parse and validate profile text; raises ProfileInvalid listing every error."""
    document = _parse_yaml(text, source)
    try:
        profile = Profile.model_validate(to_plain(document))
    except ValidationError as error:
        raise ProfileInvalid(errors_from_validation(error, document, source, Profile)) from None
    return LoadedProfile(document=document, profile=profile, source=source)


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate any YAML document of ChargeOS (e.g. a board description)."""
    document = _parse_yaml(read_profile_text(path, path.name), str(path))
    try:
        return model.model_validate(to_plain(document))
    except ValidationError as error:
        raise ProfileInvalid(errors_from_validation(error, document, str(path), model)) from None


def load_profile(path: Path) -> LoadedProfile:
    """Read and validate the profile at `path`."""
    return parse_profile(read_profile_text(path), str(path))


def _parse_yaml(text: str, source: str) -> CommentedMap:
    try:
        check_profile_text(text, source)
        document: Any = load_document(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(p for p in (error.context, error.problem) if p)
        raise ProfileInvalid(
            [ProfileError(source, line, column, "(yaml)", problem or "invalid YAML")]
        ) from None
    except YAMLError as error:
        raise ProfileInvalid([ProfileError(source, 1, 1, "(yaml)", str(error))]) from None
    if document is None:
        raise ProfileInvalid([ProfileError(source, 1, 1, "(profile)", "the profile is empty")])
    if not isinstance(document, CommentedMap):
        raise ProfileInvalid(
            [ProfileError(source, 1, 1, "(profile)", "a profile must be a mapping of sections")]
        )
    return document
