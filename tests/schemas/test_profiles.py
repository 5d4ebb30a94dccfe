"""The example profiles in profiles/: valid, schema-linked, round-trippable and harmless.

Profiles are where users start from and what tests and `make run` load, so a peer address in
them is loopback, or a reserved example name (RFC 2606) for the real-world examples, never a
real host; static LAN settings use the documentation ranges of RFC 5737.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from profile_cases import MODELINE, PROFILE_PATHS, SCHEMA_FILE

import build
from runtime.config.loader import load_profile
from schemas import Profile

PROFILE_IDS = [path.name for path in PROFILE_PATHS]
RESERVED_DOMAINS = ("example", "invalid", "localhost", "example.com", "example.net", "example.org")
DOCUMENTATION_NETS = tuple(
    ipaddress.IPv4Network(net) for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
CONFIGURATOR_ADDRESS = ipaddress.IPv4Address("10.10.0.1")  # manual 4.3: https://10.10.0.1
IPV4_LITERAL = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def test_there_are_example_profiles() -> None:
    assert len(PROFILE_PATHS) >= 9


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_profile_validates(path: Path) -> None:
    load_profile(path)


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_profile_starts_with_the_schema_modeline(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == MODELINE


def test_build_validate_accepts_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["validate", *map(str, PROFILE_PATHS)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: ok" for path in PROFILE_PATHS]


def test_committed_json_schema_is_current() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == build.render_json_schema(), (
        "schemas/profile.schema.json is stale: run `python build.py schema` and commit it"
    )


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_profile_round_trips_through_its_dump(path: Path) -> None:
    profile = load_profile(path).profile
    assert Profile.model_validate(profile.model_dump()) == profile


def test_default_profile_round_trips_through_its_dump() -> None:
    profile = Profile()
    assert Profile.model_validate(profile.model_dump()) == profile


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_peers_are_loopback_or_reserved_example_names(path: Path) -> None:
    profile = load_profile(path).profile
    network = profile.network
    hosts = [urlsplit(profile.csms.url).hostname or ""] if profile.csms.url else []
    hosts += network.ntp_servers
    addresses = [network.lte.ping_target, network.connectivity_check]
    for host in hosts:
        assert _is_loopback_or_reserved_name(host), f"{path.name}: {host} is a real host"
    for address in addresses:
        assert address is None or address.is_loopback, f"{path.name}: {address} is not loopback"


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_lan_peers_are_loopback_or_documentation_addresses(path: Path) -> None:
    network = load_profile(path).profile.network
    for interface in (network.ethernet, network.wifi):
        peers = [interface.gateway, *interface.dns]
        for peer in peers:
            assert peer is None or _is_harmless(peer), f"{path.name}: {peer} is a real address"


@pytest.mark.parametrize("path", PROFILE_PATHS, ids=PROFILE_IDS)
def test_no_routable_ip_address_appears_anywhere(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for literal in IPV4_LITERAL.findall(text):
        address = ipaddress.IPv4Address(literal)
        harmless = _is_harmless(address) or address in (
            CONFIGURATOR_ADDRESS,
            ipaddress.IPv4Address("0.0.0.0"),  # listen on every interface
        )
        assert harmless, f"{path.name}: {literal} is neither loopback nor a documentation address"


def _is_loopback_or_reserved_name(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        name = host.lower().rstrip(".")
        return any(name == domain or name.endswith(f".{domain}") for domain in RESERVED_DOMAINS)


def _is_harmless(address: ipaddress.IPv4Address) -> bool:
    return address.is_loopback or any(address in net for net in DOCUMENTATION_NETS)
