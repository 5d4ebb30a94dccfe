"""Network page (both logins: the owner connects the charger to the home Wi-Fi): Ethernet, Wi-Fi
client, the ad-hoc access point, the modem and the uplink priority, saved together as one form.

One form because the sections depend on each other: the Wi-Fi radio is either client or access
point, and every enabled uplink must be in the priority list. The network manager (netd) does not
exist yet, so every live value, the Wi-Fi scan and the modem actions say "not available".
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.config.device_secrets import ACCESS_POINT_SSID_PREFIX
from webui.forms import FieldKind, Form, FormField, MappedField
from webui.pages.common import NOT_AVAILABLE, settings_page
from webui.pages.csms import device_identity
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role

log = logging.getLogger(__name__)

ROLES = (Role.INSTALLER, Role.EV)
NETD_MISSING = "the network manager (netd) is not installed in this version"


@dataclass(frozen=True)
class ListField(MappedField):
    """A list setting typed as text separated by commas or spaces (DNS servers, uplinks)."""

    lower_case: bool = False

    def shown(self, value: Any) -> Any:
        """The list as comma-separated text."""
        return ", ".join(str(item) for item in value) if isinstance(value, list) else value

    def parsed(self, value: Any) -> Any:
        """The entries of the text as a list."""
        text = str(value or "")
        return [
            item.lower() if self.lower_case else item for item in re.split(r"[\s,]+", text) if item
        ]


@dataclass(frozen=True)
class DhcpField(MappedField):
    """DHCP as the manual's choice between Dynamic and Static (a yes/no setting)."""

    kind: FieldKind = "select"
    options: tuple[tuple[str, str], ...] = (("true", "Dynamic (DHCP)"), ("false", "Static"))

    def shown(self, value: Any) -> Any:
        """The flag as the option value."""
        return "true" if value is True else "false" if value is False else value

    def parsed(self, value: Any) -> Any:
        """The option as the flag."""
        return value == "true"


@dataclass(frozen=True)
class PrefixField(MappedField):
    """The netmask, typed as a prefix length (24) or dotted (255.255.255.0)."""

    optional: bool = True

    def parsed(self, value: Any) -> Any:
        """The prefix length as a number (None when empty)."""
        if value is None:
            return None
        text = str(value).strip().removeprefix("/")
        if text.isdigit():
            return int(text)
        try:
            return ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen
        except ValueError:
            raise ValueError("enter a prefix length (24) or a netmask (255.255.255.0)") from None


@dataclass(frozen=True)
class Section:
    """A block of the page: its live status (label → value) and its settings."""

    key: str
    title: str
    status: tuple[str, ...]
    fields: tuple[FormField, ...]
    note: str = ""


def _addressing(base: str) -> tuple[FormField, ...]:
    return (
        DhcpField(f"{base}.dhcp", "DHCP"),
        FormField(f"{base}.address", "IP Address", optional=True, hint="static only"),
        PrefixField(f"{base}.prefix_length", "Netmask", hint="static only: 24 or 255.255.255.0"),
        FormField(f"{base}.gateway", "Gateway", optional=True, hint="static only"),
        ListField(f"{base}.dns", "DNS Address", hint="up to 3, separated by commas"),
    )


def sections(access_point_ssid: str) -> tuple[Section, ...]:
    """The page's blocks (the access point hint names this charger's own SSID)."""
    return (
        Section(
            "ethernet",
            "Ethernet",
            ("Status", "IP Address"),
            (
                FormField("network.ethernet.enabled", "Ethernet Enabled", "toggle"),
                *_addressing("network.ethernet"),
            ),
        ),
        Section(
            "wifi",
            "Wi-Fi",
            ("Status", "Signal", "IP Address", "Available networks"),
            (
                FormField("network.wifi.enabled", "WiFi Enabled", "toggle"),
                FormField("network.wifi.ssid", "WiFi SSID", hint="2.4 GHz networks only"),
                FormField(
                    "network.wifi.psk",
                    "WiFi PSK",
                    "password",
                    hint="8 to 63 characters; leave empty to keep the stored one",
                ),
                *_addressing("network.wifi"),
            ),
            note="The Wi-Fi radio is either client or access point: enabling WiFi needs Ad-hoc"
            " disabled, and the configurator is then reached over the home network.",
        ),
        Section(
            "access_point",
            "Ad-hoc access point",
            ("Status", "Connected devices"),
            (
                FormField("network.access_point.enabled", "Ad-hoc Enabled", "toggle"),
                FormField(
                    "network.access_point.ssid",
                    "Ad-hoc SSID",
                    optional=True,
                    hint=f"empty: {access_point_ssid}",
                ),
                FormField(
                    "network.access_point.timeout_s", "Ad-hoc Timeout [120-1800s]", "integer"
                ),
                FormField("network.access_point.link_local", "Ad-hoc LinkLocal", "toggle"),
                FormField(
                    "network.access_point.address",
                    "Ad-hoc INET / NETMASK",
                    hint="e.g. 10.10.0.1/24",
                ),
            ),
            note="The Ad-hoc password is printed on the sticker inside the charger.",
        ),
        Section(
            "modem",
            "Modem",
            ("ICCID", "IMSI", "IMEI", "COPS Operator", "RSSI [dBm]", "SIM Status", "IP Address"),
            (
                FormField("network.lte.enabled", "Modem Enabled", "toggle"),
                FormField("network.lte.apn", "APN"),
                FormField("network.lte.username", "Username"),
                FormField(
                    "network.lte.password",
                    "Password",
                    "password",
                    hint="empty: keep the stored one",
                ),
                FormField(
                    "network.lte.ping_target",
                    "Ping IP",
                    optional=True,
                    hint="address the ping test reaches; empty: no ping",
                ),
            ),
        ),
        Section(
            "uplinks",
            "Uplink priority",
            ("Uplink in use",),
            (
                ListField(
                    "network.uplink_priority",
                    "Uplink Priority",
                    lower_case=True,
                    hint="best first, separated by commas: ethernet, wifi, lte",
                ),
            ),
            note="With several uplinks enabled the charger uses the first healthy one and fails"
            " over automatically when it drops.",
        ),
    )


def form_of(blocks: tuple[Section, ...]) -> Form:
    """The whole page as one form (every section validated and saved together)."""
    fields = tuple(item for block in blocks for item in block.fields)
    return Form("network", "Network", fields, applies_to=("netd",))


async def network(request: web.Request) -> web.Response:
    """GET/POST /network."""
    require_role(request, *ROLES)
    identity = await device_identity(request)
    own_ssid = ACCESS_POINT_SSID_PREFIX + identity[-6:] if identity else NOT_AVAILABLE
    blocks = sections(own_ssid)
    return await settings_page(
        request,
        "network.html",
        (form_of(blocks),),
        roles=ROLES,
        sections=blocks,
        not_available=NOT_AVAILABLE,
    )


async def modem_action(request: web.Request, action: str) -> web.Response:
    """A modem action: refused with the reason while netd does not exist (never a fake result)."""
    require_role(request, *ROLES)
    log.info("%s asked for the modem %s: %s", request.remote, action, NETD_MISSING)
    return render(
        request,
        "notice.html",
        status=503,
        title=f"Modem {action}",
        notice=f"Modem {action}: not available; {NETD_MISSING}. Nothing was done.",
        back="/network",
    )


async def ping_test(request: web.Request) -> web.Response:
    """POST /network/modem/ping."""
    return await modem_action(request, "ping test")


async def restart_modem(request: web.Request) -> web.Response:
    """POST /network/modem/restart."""
    return await modem_action(request, "restart")


ROUTES = (
    ("GET", "/network", network),
    ("POST", "/network", network),
    ("POST", "/network/modem/ping", ping_test),
    ("POST", "/network/modem/restart", restart_modem),
)
