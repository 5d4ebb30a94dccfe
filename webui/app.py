"""The web configurator application: routes, middlewares, shared state and background tasks.

`create_app(settings, store)` builds it; `webui/__main__.py` serves it over HTTPS. Every page is
registered in one table (`ROUTES`) so the route-table test can walk them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from runtime.config.store import ConfigStore
from webui import login
from webui.context import STATE_KEY, STATIC, WebSettings, WebState
from webui.pages import ROUTES as PAGE_ROUTES
from webui.rendering import template_environment
from webui.security import security_headers, sessions_and_csrf
from webui.sessions import LoginGuard, SessionStore
from webui.updater import UPDATER_KEY, Updater, updates_in_background

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]

AUTH_ROUTES: tuple[Route, ...] = (
    ("GET", "/login", login.login_form),
    ("POST", "/login", login.login),
    ("POST", "/logout", login.logout),
    ("GET", "/account", login.password_form),
    ("POST", "/account", login.password_change),
)


async def home(request: web.Request) -> web.StreamResponse:
    """GET /: the General Information page."""
    raise web.HTTPSeeOther("/general")


def all_routes() -> tuple[Route, ...]:
    """Every dynamic route of the app (the route-table test walks these)."""
    return (("GET", "/", home), *AUTH_ROUTES, *PAGE_ROUTES)


def create_app(settings: WebSettings, store: ConfigStore) -> web.Application:
    """The configurator around the active profile's store."""
    webui = store.profile.webui
    app = web.Application(
        middlewares=[security_headers, sessions_and_csrf],
        client_max_size=1024 * 1024,  # forms; the update upload streams past this limit
    )
    state = WebState(
        settings=settings,
        store=store,
        sessions=SessionStore(settings.clock, webui.session_idle_timeout_s),
        guard=LoginGuard(settings.clock, webui.lockout_after_failures, webui.lockout_s),
        templates=template_environment(),
    )
    app[STATE_KEY] = state
    app[UPDATER_KEY] = Updater(state)
    app.cleanup_ctx.append(updates_in_background)
    for method, path, handler in all_routes():
        app.router.add_route(method, path, handler)
    app.router.add_static("/static", STATIC, append_version=False)
    return app
