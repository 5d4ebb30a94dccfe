"""System settings: time zone and the installer's details (Installer page)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from schemas.base import ProfileModel

Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", max_length=254)
]


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Installer(ProfileModel):
    """Installer Info."""

    name: str = Field("", max_length=80, description="Installer Name")
    company: str = Field("", max_length=80, description="Installer Company")
    email: Email | None = Field(None, description="Installer Email")


class System(ProfileModel):
    """Time zone and installer details."""

    timezone: str = Field("Europe/Amsterdam", description="Timezone (IANA name)")
    installer: Installer = Field(default_factory=Installer)

    @field_validator("timezone")
    @classmethod
    def timezone_is_known(cls, value: str) -> str:
        if value not in _known_time_zones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Amsterdam")
        return value
