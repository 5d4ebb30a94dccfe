"""The ChargeOS version: the installed package's, or pyproject.toml's in a source checkout."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@cache
def chargeos_version() -> str:
    """The system version shown on the General page and sent to the backoffice."""
    try:
        return metadata.version("chargeos")
    except metadata.PackageNotFoundError:
        with PYPROJECT.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
