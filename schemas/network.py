"""Network: uplink priority with failover (Ethernet, Wi-Fi client, LTE-M), and the access point.

The access point is how an installer reaches the configurator (https://10.10.0.1); its password
is a device secret. With several uplinks enabled the network manager uses the first healthy one
in `uplink_priority` and fails over when it drops.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr

from schemas.base import ProfileModel, Violation, cross_field_rule, json_schema_rules, when

Uplink = Literal["ethernet", "wifi", "lte"]


STATIC_IP_NEEDS_ADDRESS = (
    when(dhcp={"const": False}),
    {
        "properties": {
            "address": {"type": "string"},
            "prefix_length": {"type": "integer"},
            "gateway": {"type": "string"},
        },
        "required": ["address", "prefix_length", "gateway"],
    },
)


class IpSettings(ProfileModel):
    """DHCP dynamic/static addressing shared by Ethernet and the Wi-Fi client."""

    model_config = ConfigDict(json_schema_extra=json_schema_rules(STATIC_IP_NEEDS_ADDRESS))

    dhcp: bool = Field(True, description="DHCP (Dynamic) or static")
    address: ipaddress.IPv4Address | None = Field(None, description="IP Address (static)")
    prefix_length: int | None = Field(None, ge=1, le=32, description="Netmask as prefix length")
    gateway: ipaddress.IPv4Address | None = Field(None, description="Gateway (static)")
    dns: tuple[ipaddress.IPv4Address, ...] = Field((), max_length=3, description="DNS Address")

    @cross_field_rule
    def static_ip_needs_address_prefix_and_gateway(self) -> Iterator[Violation]:
        if self.dhcp:
            return
        for name in ("address", "prefix_length", "gateway"):
            if getattr(self, name) is None:
                yield Violation((name,), f"a static IP configuration needs {name}")

    @cross_field_rule
    def gateway_is_on_the_local_network(self) -> Iterator[Violation]:
        if self.dhcp or None in (self.address, self.prefix_length, self.gateway):
            return
        network = ipaddress.IPv4Network(f"{self.address}/{self.prefix_length}", strict=False)
        if self.gateway not in network:
            yield Violation(("gateway",), f"gateway {self.gateway} is not inside {network}")


class Ethernet(IpSettings):
    """Network page: Ethernet."""

    enabled: bool = Field(True, description="Ethernet enabled")


class WifiClient(IpSettings):
    """Network page: Wi-Fi client (2.4 GHz)."""

    model_config = ConfigDict(
        json_schema_extra=json_schema_rules(
            STATIC_IP_NEEDS_ADDRESS,
            (when(enabled={"const": True}), when(ssid={"minLength": 1})),
        )
    )

    enabled: bool = Field(False, description="WiFi Enabled")
    ssid: str = Field("", max_length=32, description="WiFi SSID")
    psk: SecretStr = Field(
        SecretStr(""),
        description="WiFi PSK (8-63 characters, or empty)",
        json_schema_extra={"pattern": "^(|.{8,63})$"},
    )

    @cross_field_rule
    def enabled_wifi_needs_ssid(self) -> Iterator[Violation]:
        if self.enabled and not self.ssid:
            yield Violation(("ssid",), "Wi-Fi is enabled but no SSID is set")

    @cross_field_rule
    def psk_is_wpa2_length(self) -> Iterator[Violation]:
        length = len(self.psk.get_secret_value())
        if length and not 8 <= length <= 63:
            yield Violation(("psk",), "a WPA2 passphrase has 8 to 63 characters")


class AccessPoint(ProfileModel):
    """Network page: Ad-hoc access point of the configurator."""

    enabled: bool = Field(True, description="Ad-hoc Enabled")
    ssid: str | None = Field(
        None, max_length=32, description="Ad-hoc SSID (empty: VoltTime + identity digits)"
    )
    timeout_s: int = Field(1800, ge=120, le=1800, description="Ad-hoc Timeout [120-1800s]")
    link_local: bool = Field(False, description="Ad-hoc LinkLocal")
    address: ipaddress.IPv4Interface = Field(
        ipaddress.IPv4Interface("10.10.0.1/24"), description="Ad-hoc INET / NETMASK"
    )

    @cross_field_rule
    def address_is_private(self) -> Iterator[Violation]:
        if not self.address.ip.is_private:
            yield Violation(("address",), "the access point needs a private address")


class Lte(ProfileModel):
    """Network page: Modem (LTE-M / GPRS)."""

    model_config = ConfigDict(
        json_schema_extra=json_schema_rules(
            (when(enabled={"const": True}), when(apn={"minLength": 1})),
        )
    )

    enabled: bool = Field(False, description="Modem enabled")
    apn: str = Field("", max_length=100, description="APN")
    username: str = Field("", max_length=64, description="Username")
    password: SecretStr = Field(SecretStr(""), description="Password")
    ping_target: ipaddress.IPv4Address | None = Field(
        None, description="Ping IP for the connection test (empty: no ping)"
    )

    @cross_field_rule
    def enabled_modem_needs_apn(self) -> Iterator[Violation]:
        if self.enabled and not self.apn:
            yield Violation(("apn",), "the modem is enabled but no APN is set")


class Network(ProfileModel):
    """Network page."""

    uplink_priority: tuple[Uplink, ...] = Field(
        ("ethernet", "wifi", "lte"),
        max_length=3,
        description="Uplink priority, best first",
        json_schema_extra={"uniqueItems": True},
    )
    hostname: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Hostname (empty: derived from the charger identity)",
    )
    ethernet: Ethernet = Field(default_factory=Ethernet)
    wifi: WifiClient = Field(default_factory=WifiClient)
    access_point: AccessPoint = Field(default_factory=AccessPoint)
    lte: Lte = Field(default_factory=Lte)
    connectivity_check: ipaddress.IPv4Address | None = Field(
        None, description="Address probed to judge an uplink healthy (empty: link state only)"
    )
    ntp_servers: tuple[str, ...] = Field((), max_length=4, description="NTP servers")

    @cross_field_rule
    def uplink_priority_has_no_duplicates(self) -> Iterator[Violation]:
        seen: set[str] = set()
        for index, uplink in enumerate(self.uplink_priority):
            if uplink in seen:
                yield Violation(("uplink_priority", index), f"{uplink} is listed twice")
            seen.add(uplink)

    @cross_field_rule
    def enabled_uplinks_are_in_the_priority_list(self) -> Iterator[Violation]:
        for uplink in ("ethernet", "wifi", "lte"):
            section: Ethernet | WifiClient | Lte = getattr(self, uplink)
            if section.enabled and uplink not in self.uplink_priority:
                yield Violation(
                    ("uplink_priority",), f"{uplink} is enabled but missing from uplink_priority"
                )

    @cross_field_rule
    def wifi_client_and_access_point_share_one_radio(self) -> Iterator[Violation]:
        if self.wifi.enabled and self.access_point.enabled:
            yield Violation(
                ("access_point", "enabled"),
                "the Wi-Fi radio is either client or access point: disable Ad-hoc when WiFi is"
                " enabled (manual 4.3.2)",
            )
