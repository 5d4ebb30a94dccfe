"""The backoffice (CSMS) connection: URL, identity, OCPP version and security profile.

Security profiles are OCPP's: 1 = basic auth over ws, 2 = TLS with basic auth, 3 = TLS with a
client certificate; 0 = none (test benches only). The basic-auth password is a device secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from schemas.base import ProfileModel, Violation, cross_field_rule, json_schema_rules, when

CsmsUrl = Annotated[
    str,
    StringConstraints(pattern=r"^wss?://[^\s/?#]+(/[^\s?#]*)?$", max_length=512),
]


class Csms(ProfileModel):
    """CSMS page settings."""

    model_config = ConfigDict(
        json_schema_extra=json_schema_rules(
            (when(enabled={"const": True}), when(url={"type": "string"})),
            (
                when(security_profile={"enum": [2, 3]}, url={"type": "string"}),
                {"properties": {"url": {"pattern": "^wss://"}}},
            ),
        )
    )

    enabled: bool = Field(False, description="Connect to a CSMS (backoffice)")
    url: CsmsUrl | None = Field(
        None, description="CSMS Server Address (ws://… or wss://…, the identity is appended)"
    )
    identity: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,48}$",
        description="Charger Identity (empty: the device's own identity)",
    )
    ocpp_version: Literal["1.6", "2.0.1"] = Field("1.6", description="OCPP version")
    security_profile: Literal[0, 1, 2, 3] = Field(1, description="OCPP security profile")
    heartbeat_interval_s: int = Field(
        300, ge=10, le=86400, description="Heartbeat interval until the CSMS sets one [s]"
    )
    meter_values_interval_s: int = Field(
        60, ge=0, le=3600, description="Meter values sample interval during a session [s]"
    )
    reconnect_max_backoff_s: int = Field(
        300, ge=5, le=3600, description="Longest wait between reconnect attempts [s]"
    )
    offline_queue_limit: int = Field(
        10000, ge=100, le=1000000, description="Messages kept while offline"
    )

    @cross_field_rule
    def enabled_csms_needs_url(self) -> Iterator[Violation]:
        if self.enabled and self.url is None:
            yield Violation(("url",), "a CSMS Server Address is needed when the CSMS is enabled")

    @cross_field_rule
    def tls_profiles_need_wss(self) -> Iterator[Violation]:
        if (
            self.url is not None
            and self.security_profile >= 2
            and not self.url.startswith("wss://")
        ):
            yield Violation(
                ("url",),
                f"security profile {self.security_profile} uses TLS: the address must start"
                " with wss://",
            )
