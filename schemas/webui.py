"""Web configurator settings: ports, sessions and login lockout."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from pydantic import Field

from schemas.base import ProfileModel, Violation, cross_field_rule


class WebUi(ProfileModel):
    """How the configurator is served and protected."""

    https_port: int = Field(443, ge=1, le=65535, description="HTTPS port")
    http_port: int | None = Field(
        80, ge=1, le=65535, description="HTTP port (redirects to HTTPS; empty: off)"
    )
    bind_address: ipaddress.IPv4Address = Field(
        ipaddress.IPv4Address("0.0.0.0"), description="Listen address"
    )
    session_idle_timeout_s: int = Field(
        1800, ge=60, le=86400, description="Log out after this long without activity [s]"
    )
    lockout_after_failures: int = Field(
        10, ge=3, le=100, description="Failed logins in a row before a lockout"
    )
    lockout_s: int = Field(300, ge=30, le=86400, description="Lockout duration [s]")
    upload_limit_mb: int = Field(
        512, ge=16, le=4096, description="Largest update zip accepted [MB]"
    )

    @cross_field_rule
    def http_and_https_ports_differ(self) -> Iterator[Violation]:
        if self.http_port == self.https_port:
            yield Violation(("http_port",), "HTTP and HTTPS need different ports")
