"""Logging in and out, and changing one's own password.

Attempts are logged with the account and the client address, never with a password. A locked
account or client is told until when; the manufacturer cannot recover a lost password, so the
form says where the sticker is.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from runtime.config.device_secrets import (
    MAX_PASSWORD_LENGTH,
    DeviceSecretsError,
    change_password,
    load_device_secrets,
    verify_password,
)
from webui.context import STATE_KEY
from webui.rendering import render
from webui.roles import Role
from webui.security import current_session, set_session_cookie

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_USER_SHOWN = 40  # a submitted user name is logged and shown again at most this long


def client_address(request: web.Request) -> str:
    """The peer address the lockout counts against."""
    return request.remote or "unknown"


async def login_form(request: web.Request) -> web.Response:
    """GET /login."""
    return render(request, "login.html", error=None, user="installer")


async def login(request: web.Request) -> web.StreamResponse:
    """POST /login: check the password against the device secrets; new session on success."""
    state = request.app[STATE_KEY]
    form = await request.post()
    user = str(form.get("user", "")).strip().lower()
    shown = user if len(user) <= MAX_USER_SHOWN else user[:MAX_USER_SHOWN] + "…"
    password = str(form.get("password", ""))
    client = client_address(request)
    wait_s = state.guard.locked_for(user, client)
    if wait_s > 0:
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + wait_s))
        log.warning("login refused: %r from %s is locked for %.0f s", shown, client, wait_s)
        message = f"Too many failed logins. Try again at {until} (in {wait_s:.0f} s)."
        return render(request, "login.html", status=429, error=message, user=shown)
    role = Role(user) if user in {r.value for r in Role} else None
    ok = False
    if role is not None:
        try:
            secrets = await asyncio.to_thread(load_device_secrets, state.settings.data_dir)
            ok = await asyncio.to_thread(verify_password, secrets, role.account, password)
        except DeviceSecretsError as error:
            log.error("login impossible: %s", error)
    if not ok or role is None:
        state.guard.failed(user, client)
        log.warning("failed login for %r from %s", shown, client)
        return render(
            request, "login.html", status=401, error="Wrong user or password.", user=shown
        )
    state.guard.succeeded(user, client)
    session = state.sessions.login(current_session(request), role)
    log.info("login of %s from %s", role, client)
    response = web.HTTPSeeOther("/general")
    set_session_cookie(response, session)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout: end the session on the server too."""
    session = current_session(request)
    request.app[STATE_KEY].sessions.logout(session)
    log.info("logout of %s from %s", session.role, client_address(request))
    raise web.HTTPSeeOther("/login")


async def password_form(request: web.Request) -> web.Response:
    """GET /account: change one's own password."""
    return render(request, "account.html", error=None, done=False)


async def password_change(request: web.Request) -> web.Response:
    """POST /account: the current password, then the new one twice."""
    state = request.app[STATE_KEY]
    session = current_session(request)
    assert session.role is not None
    form = await request.post()
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
    secrets = await asyncio.to_thread(load_device_secrets, state.settings.data_dir)
    error = None
    if not await asyncio.to_thread(verify_password, secrets, session.role.account, current):
        error = "The current password is wrong."
    elif not MIN_PASSWORD_LENGTH <= len(new) <= MAX_PASSWORD_LENGTH:
        error = f"The new password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
    elif new != again:
        error = "The two new passwords differ."
    if error is not None:
        return render(request, "account.html", status=400, error=error, done=False)
    await asyncio.to_thread(change_password, state.settings.data_dir, session.role.account, new)
    state.sessions.logout_role(session.role, keep=session)
    log.info("%s changed their password from %s", session.role, client_address(request))
    return render(request, "account.html", error=None, done=True)
