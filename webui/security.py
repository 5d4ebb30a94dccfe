"""Security middlewares: headers on every answer, login required, CSRF on every change.

Every route is private unless listed in PUBLIC; every non-GET request must carry the session's
CSRF token (form field `csrf_token` or header `X-CSRF-Token`), login included.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from webui.context import STATE_KEY
from webui.roles import Role
from webui.sessions import COOKIE, Session

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session")
PUBLIC = frozenset({"/login", "/static", "/favicon.ico"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_public(path: str) -> bool:
    """Routes reachable without a login."""
    return any(path == p or path.startswith(p + "/") for p in PUBLIC)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the security headers to every answer, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        page = _error_page(request, error)
        if page is not None:
            _decorate(page, request)
            return page
        response = error
        _decorate(response, request)
        raise
    except Exception:  # a bug: the browser learns nothing but gets the headers
        log.exception("%s %s failed", request.method, request.path)
        response = web.Response(status=500, text="internal error; see the system logs")
    _decorate(response, request)
    return response


ERROR_TITLES = {403: "Not for this login", 404: "Page not found", 405: "Not allowed"}


def _error_page(request: web.Request, error: web.HTTPException) -> web.Response | None:
    """A refused page a person opened in the browser gets a page with a way back."""
    title = ERROR_TITLES.get(error.status)
    wants_html = "text/html" in request.headers.get("Accept", "")
    if title is None or request.method != "GET" or not wants_html:
        return None
    message = error.text or title
    page = (
        request.app[STATE_KEY]
        .templates.get_template("error.html")
        .render(title=title, message=message)
    )
    return web.Response(text=page, status=error.status, content_type="text/html")


def _decorate(response: web.StreamResponse, request: web.Request) -> None:
    if response.prepared:
        return
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def sessions_and_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the session; refuse private routes without login and changes without token."""
    state = request.app[STATE_KEY]
    session = state.sessions.get(request.cookies.get(COOKIE))
    fresh = session is None and request.path == "/login"  # only the login form needs one
    if fresh:
        session = state.sessions.new()
    request[SESSION_KEY] = session
    if not is_public(request.path) and (session is None or session.role is None):
        if request.method == "GET" and not request.path.startswith("/api/"):
            raise _with_cookie(web.HTTPSeeOther("/login"), session, fresh)
        raise _with_cookie(web.HTTPUnauthorized(text="log in first"), session, fresh)
    if request.method in UNSAFE_METHODS and not await _csrf_ok(request, session):
        log.warning("refused %s %s: missing or wrong CSRF token", request.method, request.path)
        raise web.HTTPForbidden(text="the form expired or did not come from this charger; reload")
    response = await handler(request)
    if fresh and session is not None:
        set_session_cookie(response, session)
    return response


async def _csrf_ok(request: web.Request, session: Session | None) -> bool:
    if session is None:
        return False
    token = request.headers.get("X-CSRF-Token", "")
    if not token and request.content_type == "application/x-www-form-urlencoded":
        token = str((await request.post()).get("csrf_token", ""))
    return bool(token) and hmac.compare_digest(token, session.csrf_token)


def _with_cookie(
    error: web.HTTPException, session: Session | None, fresh: bool
) -> web.HTTPException:
    if fresh and session is not None:
        set_session_cookie(error, session)
    return error


def set_session_cookie(response: web.StreamResponse, session: Session) -> None:
    """The session cookie: Secure, HttpOnly, SameSite=Strict, whole site."""
    response.set_cookie(
        COOKIE, session.session_id, secure=True, httponly=True, samesite="Strict", path="/"
    )


def current_session(request: web.Request) -> Session:
    """The request's session (always present behind the middleware)."""
    session: Session | None = request.get(SESSION_KEY)
    if session is None:
        raise web.HTTPUnauthorized(text="log in first")
    return session


def require_role(request: web.Request, *roles: Role) -> Session:
    """The session, or 403 when its role may not do this."""
    session = current_session(request)
    if session.role not in roles:
        log.warning("refused %s %s to role %s", request.method, request.path, session.role)
        raise web.HTTPForbidden(text="this page is for the installer login")
    return session
