"""The ChargeOS version: the image's (/etc/chargeos/system.json, written by the image build),
else the installed package's, or pyproject.toml's in a source checkout."""

from __future__ import annotations

import json
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SYSTEM_FILE = Path("/etc/chargeos/system.json")


@cache
def chargeos_version() -> str:
    """The system version shown on the General page and sent to the backoffice."""
    image_version = _image_version()
    if image_version is not None:
        return image_version
    try:
        return metadata.version("chargeos")
    except metadata.PackageNotFoundError:
        with PYPROJECT.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])


def _image_version() -> str | None:
    """The version in the image's system.json; None when this is not a ChargeOS image."""
    try:
        return str(json.loads(SYSTEM_FILE.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
