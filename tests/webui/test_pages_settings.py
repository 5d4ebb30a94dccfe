"""CSMS, Network and Load pages: every field shown with its label, a save rewrites only the line
it changes (comments kept), a refused value is answered next to its field with the profile file
untouched, values whose service does not exist say "not available", and who may open what.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from runtime.config.device_secrets import provision_device_secrets
from runtime.config.store import ConfigStore
from webui.app import create_app
from webui.context import WebSettings
from webui.pages import csms, load, network

REPO = Path(__file__).resolve().parents[2]
SIMULATED = REPO / "profiles" / "simulated.yaml"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
Client = TestClient[web.Request, web.Application]
STICKER_LOGIN = re.compile(r"^(Installer|EV) password:\s*(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Charger:
    """A provisioned data directory with a copy of the simulated profile."""

    settings: WebSettings
    profile: Path
    passwords: dict[str, str]
    identity: str


@pytest.fixture
def charger(tmp_path: Path) -> Charger:
    """A freshly provisioned charger (cheap password hashes, no evse service running)."""
    data = tmp_path / "data"
    provisioned = provision_device_secrets(data, hasher=CHEAP_HASHER)
    sticker = provisioned.sticker_path.read_text(encoding="utf-8")
    passwords = {user.lower(): password for user, password in STICKER_LOGIN.findall(sticker)}
    profile = data / "profile.yaml"
    shutil.copyfile(SIMULATED, profile)
    settings = WebSettings(
        data_dir=data,
        evse_socket=tmp_path / "evse.sock",
        supervisor_socket=tmp_path / "supervisor.sock",
        version="test",
        uploads_dir=tmp_path / "uploads",
        default_profile=SIMULATED,
        update_dir=data / "update",
    )
    return Charger(settings, profile, passwords, provisioned.secrets.charger_identity)


@asynccontextmanager
async def browser(charger: Charger, role: str) -> AsyncIterator[Client]:
    """A client logged in as `role`; its cookie jar treats the loopback server as secure, so
    the Secure session cookie is sent back as a browser would over HTTPS."""
    app = create_app(charger.settings, ConfigStore.open(charger.profile))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=str(server.make_url("/")))
    async with TestClient(server, cookie_jar=jar) as client:
        form = await client.get("/login")
        token = FormReader.read(await form.text()).tokens[0]
        answer = await client.post(
            "/login",
            data={"user": role, "password": charger.passwords[role], "csrf_token": token},
            allow_redirects=False,
        )
        assert answer.status == 303, await answer.text()
        yield client


Scenario = Callable[[Client], Awaitable[None]]


def run(charger: Charger, role: str, scenario: Scenario) -> None:
    """Run `scenario` with a browser logged in as `role`."""

    async def main() -> None:
        async with browser(charger, role) as client:
            await scenario(client)

    asyncio.run(main())


class FormReader(HTMLParser):
    """The page's settings forms as a browser submits them: {form name: {field: value}}."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self.tokens: list[str] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None

    @classmethod
    def read(cls, page: str) -> FormReader:
        """Parse a page."""
        reader = cls()
        reader.feed(page)
        return reader

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect inputs, checked boxes and selected options."""
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._fields = {}
        elif self._fields is None:
            return
        elif tag == "input" and "name" in attr:
            self._input(attr)
        elif tag == "select":
            self._select = attr["name"]
        elif tag == "option" and self._select is not None:
            self._option(self._select, attr)

    def _option(self, select: str, attr: dict[str, str]) -> None:
        assert self._fields is not None
        if select not in self._fields or "selected" in attr:  # browsers submit the first
            self._fields[select] = attr["value"]

    def _input(self, attr: dict[str, str]) -> None:
        assert self._fields is not None
        if attr.get("type") == "checkbox":
            if "checked" in attr:
                self._fields[attr["name"]] = "on"
        else:
            self._fields[attr["name"]] = attr.get("value", "")
        if attr["name"] == "csrf_token":
            self.tokens.append(attr["value"])

    def handle_endtag(self, tag: str) -> None:
        """Close selects and forms."""
        if tag == "select":
            self._select = None
        elif tag == "form" and self._fields is not None:
            if "form" in self._fields:
                self.forms[self._fields["form"]] = self._fields
            self._fields = None


def field_block(page: str, name: str) -> str:
    """The markup of the field whose input is called `name` (label, input, hint, error)."""
    for match in re.finditer(r'<div class="field[^"]*">.*?</div>', page, re.DOTALL):
        if f'name="{name}"' in match.group():
            return match.group()
    raise AssertionError(f"no field {name} on the page")


def labels_of(page: str) -> set[str]:
    """The visible text of every label, whitespace collapsed."""
    found = re.findall(r"<label[^>]*>(.*?)</label>", page, re.DOTALL)
    without_options = (re.sub(r"<select.*?</select>", " ", text, flags=re.DOTALL) for text in found)
    return {" ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in without_options}


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """The lines that differ, pairwise (the files must have the same number of lines)."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


PAGES = {
    "/csms": csms.forms("VT_0000000")[0],
    "/network": network.form_of(network.sections("VoltTime000000")),
    "/load": load.FORMS[0],
}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_shows_every_field_with_its_label(charger: Charger, path: str) -> None:
    async def scenario(client: Client) -> None:
        answer = await client.get(path)
        page = await answer.text()
        assert answer.status == 200, page
        shown = labels_of(page)
        for item in PAGES[path].fields:
            assert item.label in shown, f"{item.label} missing on {path}"
            assert f'name="{item.name}"' in field_block(page, item.name)
        assert "Content-Security-Policy" in answer.headers
        assert "<script>" not in page

    run(charger, "installer", scenario)


def test_csms_status_says_not_available_and_names_the_device(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        page = await (await client.get("/csms")).text()
        for label in ("Connection Status", "SCC Version", "Bytes Sent", "Bytes Received"):
            assert re.search(rf"<dt>{label}</dt><dd>not available</dd>", page), label
        assert "<dt>Charger Model</dt><dd>Source</dd>" in page
        assert "<dt>Charger Vendor</dt><dd>Volt Time</dd>" in page
        identity_field = field_block(page, "csms.identity")
        assert f"empty: this charger&#39;s own identity ({charger.identity})" in identity_field

    run(charger, "installer", scenario)


def test_network_status_scan_and_modem_values_are_not_available(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        page = await (await client.get("/network")).text()
        for label in ("Available networks", "ICCID", "IMSI", "IMEI", "RSSI [dBm]", "SIM Status"):
            assert re.search(rf"<dt>{re.escape(label)}</dt><dd>not available</dd>", page), label
        ssid_hint = field_block(page, "network.access_point.ssid")
        assert f"empty: VoltTime{charger.identity[-6:]}" in ssid_hint
        assert 'value="ethernet"' in field_block(page, "network.uplink_priority")
        assert 'value="true" selected' in field_block(page, "network.ethernet.dhcp")

    run(charger, "installer", scenario)


@pytest.mark.parametrize(
    ("path", "form", "name", "value", "before", "after"),
    [
        (
            "/csms",
            "csms",
            "authorization.default_id_tag",
            "CUSTOMER42",
            "  default_id_tag: default",
            "  default_id_tag: CUSTOMER42",
        ),
        (
            "/network",
            "network",
            "network.access_point.timeout_s",
            "600",
            "    timeout_s: 1800",
            "    timeout_s: 600",
        ),
        (
            "/load",
            "balancing",
            "balancing.site_limit_a",
            "63",
            "  site_limit_a: 40                # Site Limit [A]: the main connection's fuse",
            "  site_limit_a: 63                # Site Limit [A]: the main connection's fuse",
        ),
        (
            "/load",
            "balancing",
            "balancing.min_change_a",
            "0,5",
            "  min_change_a: 0.1",
            "  min_change_a: 0.5",
        ),
    ],
)
def test_a_save_changes_exactly_that_line(
    charger: Charger, path: str, form: str, name: str, value: str, before: str, after: str
) -> None:
    original = charger.profile.read_text(encoding="utf-8")

    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get(path)).text()).forms[form]
        answer = await client.post(path, data={**data, name: value})
        page = await answer.text()
        assert answer.status == 200, page
        assert "Saved" in page
        assert changed_lines(original, charger.profile.read_text(encoding="utf-8")) == [
            (before, after)
        ]
        shown = FormReader.read(page).forms[form]
        assert shown[name] == value.replace(",", ".")

    run(charger, "installer", scenario)


@pytest.mark.parametrize(
    ("path", "form"), [("/csms", "csms"), ("/network", "network"), ("/load", "balancing")]
)
def test_saving_an_unchanged_page_leaves_the_file_byte_identical(
    charger: Charger, path: str, form: str
) -> None:
    original = charger.profile.read_bytes()

    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get(path)).text()).forms[form]
        answer = await client.post(path, data=data)
        assert answer.status == 200
        assert "Nothing changed." in await answer.text()
        assert charger.profile.read_bytes() == original

    run(charger, "installer", scenario)


@pytest.mark.parametrize(
    ("path", "form", "changes", "field", "message"),
    [
        (
            "/network",
            "network",
            {"network.access_point.timeout_s": "100"},
            "network.access_point.timeout_s",
            "Ad-hoc Timeout [120-1800s]: Input should be greater than or equal to 120",
        ),
        (
            "/load",
            "balancing",
            {"balancing.site_limit_a": "3"},
            "balancing.site_limit_a",
            "Site Limit [A]: Input should be greater than or equal to 6",
        ),
        (
            "/network",
            "network",
            {
                "network.ethernet.dhcp": "false",
                "network.ethernet.address": "192.168.1.50",
                "network.ethernet.prefix_length": "24",
                "network.ethernet.gateway": "",
            },
            "network.ethernet.gateway",
            "Gateway: a static IP configuration needs gateway",
        ),
        (
            "/csms",
            "csms",
            {"csms.security_profile": "2", "csms.url": "ws://csms.example.com/ocpp"},
            "csms.url",
            "CSMS Server Address: security profile 2 uses TLS: the address must start with wss://",
        ),
        (
            "/network",
            "network",
            {"network.ethernet.dns": "1.1.1.1, 1.2.3"},
            "network.ethernet.dns",
            "DNS Address: entry 2: Input is not a valid IPv4 address",
        ),
    ],
)
def test_a_refused_value_is_answered_next_to_its_field_and_nothing_is_saved(
    charger: Charger, path: str, form: str, changes: dict[str, str], field: str, message: str
) -> None:
    original = charger.profile.read_bytes()

    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get(path)).text()).forms[form]
        answer = await client.post(path, data={**data, **changes})
        page = await answer.text()
        assert answer.status == 400, page
        block = field_block(page, field)
        assert 'class="field invalid"' in block
        assert f'<small class="error">{message}</small>' in block.replace("&#39;", "'")
        shown = FormReader.read(page).forms[form]
        assert {name: shown[name] for name in changes} == changes  # what was typed stays
        assert charger.profile.read_bytes() == original

    run(charger, "installer", scenario)


def test_static_addressing_accepts_a_dotted_netmask_and_a_dns_list(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get("/network")).text()).forms["network"]
        static = {
            "network.ethernet.dhcp": "false",
            "network.ethernet.address": "192.168.1.50",
            "network.ethernet.prefix_length": "255.255.255.0",
            "network.ethernet.gateway": "192.168.1.1",
            "network.ethernet.dns": "192.168.1.1 9.9.9.9",
        }
        answer = await client.post("/network", data={**data, **static})
        page = await answer.text()
        assert answer.status == 200, page
        text = charger.profile.read_text(encoding="utf-8")
        assert "    dhcp: false\n" in text
        assert "    prefix_length: 24\n" in text
        assert re.search(r"dns:\n\s+- 192\.168\.1\.1\n\s+- 9\.9\.9\.9\n", text)
        shown = FormReader.read(page).forms["network"]
        assert shown["network.ethernet.dns"] == "192.168.1.1, 9.9.9.9"
        assert shown["network.ethernet.prefix_length"] == "24"

    run(charger, "installer", scenario)


def test_wifi_client_and_access_point_switch_in_one_save(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get("/network")).text()).forms["network"]
        data.pop("network.access_point.enabled")
        home = {
            "network.wifi.enabled": "on",
            "network.wifi.ssid": "Home",
            "network.wifi.psk": "correct horse",
            "network.uplink_priority": "wifi, ethernet",
        }
        answer = await client.post("/network", data={**data, **home})
        page = await answer.text()
        assert answer.status == 200, page
        store = ConfigStore.open(charger.profile)
        assert store.profile.network.wifi.psk.get_secret_value() == "correct horse"
        assert not store.profile.network.access_point.enabled
        assert store.profile.network.uplink_priority == ("wifi", "ethernet")
        assert "correct horse" not in page  # a secret is never sent back

    run(charger, "ev", scenario)


def test_ev_is_refused_csms_and_load_but_may_open_network(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        token = FormReader.read(await (await client.get("/network")).text()).tokens[0]
        for path in ("/csms", "/load"):
            assert (await client.get(path)).status == 403
            refused = await client.post(path, data={"csrf_token": token, "form": "x"})
            assert refused.status == 403
        page = await client.get("/network")
        assert page.status == 200
        navigation = await page.text()
        assert 'href="/csms"' not in navigation
        assert 'href="/load"' not in navigation

    run(charger, "ev", scenario)


def test_modem_actions_say_not_available_and_do_nothing(charger: Charger) -> None:
    original = charger.profile.read_bytes()

    async def scenario(client: Client) -> None:
        data = FormReader.read(await (await client.get("/network")).text()).forms["network"]
        for action in ("ping", "restart"):
            answer = await client.post(f"/network/modem/{action}", data=data)
            text = await answer.text()
            assert answer.status == 503
            assert "not available" in text
            assert "Nothing was done." in text
        assert charger.profile.read_bytes() == original

    run(charger, "installer", scenario)


def test_load_chart_says_not_available_without_the_evse_service(charger: Charger) -> None:
    async def scenario(client: Client) -> None:
        page = await (await client.get("/load")).text()
        assert "data-chart " in page or "data-chart\n" in page or "data-chart data" in page
        assert "Live chart: not available" in page
        assert 'data-site-limit="40.0"' in page
        assert '<script src="/static/chart.js" defer></script>' in page
        assert (await client.get("/static/chart.js")).status == 200

    run(charger, "installer", scenario)


def test_load_page_is_absent_when_load_balancing_is_not_licensed(charger: Charger) -> None:
    text = charger.profile.read_text(encoding="utf-8")
    charger.profile.write_text(
        text.replace("load_balancing_licensed: true", "load_balancing_licensed: false").replace(
            "balancing:\n  enabled: true", "balancing:\n  enabled: false"
        ),
        encoding="utf-8",
    )

    async def scenario(client: Client) -> None:
        assert (await client.get("/load")).status == 404

    run(charger, "installer", scenario)
