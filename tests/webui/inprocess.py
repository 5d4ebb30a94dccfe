"""The configurator app in this process (`create_app`), driven synchronously, browser-like.

`Site` serves the app on loopback from its own event loop with a fake clock; `Agent` is one
browser: its own source address (127.0.0.x, for the per-client lockout), its session cookie
kept by hand (so a test can replay an old one) and the CSRF token of the last page it read.
Synchronous on purpose: Hypothesis examples and plain tests call it alike.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from multidict import CIMultiDictProxy

from runtime.config.device_secrets import provision_device_secrets
from runtime.config.store import ConfigStore
from runtime.version import chargeos_version
from tests.webui.stack import sticker_logins
from webui.app import Handler, create_app
from webui.context import STATE_KEY, WebSettings, WebState
from webui.sessions import COOKIE

REPO = Path(__file__).resolve().parents[2]
SIMULATED = REPO / "profiles" / "simulated.yaml"
# argon2id with tiny costs: the same verify path as on the device, in milliseconds
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read completely."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def location(self) -> str:
        """The Location header ("" without one)."""
        return self.headers.get("Location", "")

    @property
    def set_cookies(self) -> list[str]:
        """Every Set-Cookie header, raw."""
        return self.headers.getall("Set-Cookie", [])

    def session_id(self) -> str | None:
        """The session cookie this answer sets, if any."""
        for raw in self.set_cookies:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(raw)
            if COOKIE in cookie:
                return cookie[COOKIE].value
        return None


@dataclass
class Site:
    """The configurator app on 127.0.0.1, a data directory and the device's two logins."""

    data_dir: Path
    clock: FakeClock
    loop: asyncio.AbstractEventLoop
    server: TestServer
    passwords: dict[str, str]
    agents: list[Agent] = field(default_factory=list)

    @property
    def app(self) -> web.Application:
        """The application under test."""
        return self.server.app

    @property
    def state(self) -> WebState:
        """The app's shared state (store, sessions, guard)."""
        return self.app[STATE_KEY]

    @property
    def store(self) -> ConfigStore:
        """The config store the app edits."""
        return self.state.store

    @property
    def profile_path(self) -> Path:
        """The active profile file."""
        return self.data_dir / "profile.yaml"

    def url(self, path: str) -> str:
        """The absolute URL of a path on this site."""
        return str(self.server.make_url(path))

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on the site's loop."""
        return self.loop.run_until_complete(awaitable)

    def agent(self, source: str = "127.0.0.1") -> Agent:
        """A new browser connecting from `source` (any 127.0.0.0/8 address)."""
        agent = Agent(self, source)
        self.agents.append(agent)
        return agent

    def logged_in(self, role: str) -> Agent:
        """A browser logged in as `role` ("installer" or "ev")."""
        agent = self.agent()
        answer = agent.login(role, self.passwords[role])
        assert answer.status == 303 and answer.location == "/general", answer
        return agent

    def close(self) -> None:
        """Close every agent and the server, then the loop."""
        for agent in self.agents:
            self.run(agent.http.close())
        self.run(self.server.close())
        self.loop.close()


def open_site(
    data_dir: Path,
    edit: Mapping[str, Any] | None = None,
    extra_routes: tuple[tuple[str, str, Handler], ...] = (),
) -> Site:
    """Provision a device in `data_dir`, build the app with `create_app` and serve it.

    `extra_routes` are added behind the app's middlewares (to test what they do to any route).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    profile = data_dir / "profile.yaml"
    shutil.copyfile(SIMULATED, profile)
    if edit:
        store = ConfigStore.open(profile)
        store.update(dict(edit))
        store.save()
    provision_device_secrets(data_dir, "VT_", hasher=CHEAP_HASHER)
    clock = FakeClock()
    settings = WebSettings(
        data_dir=data_dir,
        evse_socket=data_dir / "run" / "evse.sock",  # not running: pages say "not available"
        supervisor_socket=data_dir / "run" / "supervisor.sock",
        version=chargeos_version(),
        uploads_dir=data_dir / "uploads",
        default_profile=SIMULATED,
        clock=clock,
        update_dir=data_dir / "update",  # no slots: updates verify but do not install
    )
    loop = asyncio.new_event_loop()
    app = create_app(settings, ConfigStore.open(profile))
    for method, path, handler in extra_routes:
        app.router.add_route(method, path, handler)
    server = TestServer(app, host="127.0.0.1")
    loop.run_until_complete(server.start_server())
    return Site(data_dir, clock, loop, server, sticker_logins(data_dir))


class Agent:
    """One browser: a cookie, the last CSRF token seen, a fixed source address."""

    def __init__(self, site: Site, source: str) -> None:
        self.site = site
        self.cookie: str | None = None
        self.csrf_token = ""

        async def make() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
            return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

        self.http: aiohttp.ClientSession = site.run(make())

    def request(
        self,
        method: str,
        path: str,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        cookie: str | None = None,
    ) -> Answer:
        """One request with this browser's cookie (or `cookie`); redirects are not followed."""
        sent = dict(headers or {})
        value = cookie if cookie is not None else self.cookie
        if value:
            sent["Cookie"] = f"{COOKIE}={value}"

        async def go() -> Answer:
            async with self.http.request(
                method, self.site.url(path), data=data, headers=sent, allow_redirects=False
            ) as response:
                text = await response.text(errors="replace")
                return Answer(response.status, response.headers, text)

        answer: Answer = self.site.run(go())
        new_id = answer.session_id()
        if new_id is not None and cookie is None:
            self.cookie = new_id
        found = CSRF_META.search(answer.text)
        if found:
            self.csrf_token = found.group(1)
        return answer

    def get(self, path: str) -> Answer:
        """GET `path`."""
        return self.request("GET", path)

    def post(self, path: str, data: Mapping[str, str] | None = None, csrf: bool = True) -> Answer:
        """POST a form to `path`, with this session's CSRF token unless `csrf` is False."""
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf_token
        return self.request("POST", path, data=form)

    def login(self, user: str, password: str) -> Answer:
        """Open the login form (for its cookie and token), then submit it."""
        if not self.csrf_token:
            self.get("/login")
        return self.post("/login", {"user": user, "password": password})
