"""A login changes its own password; a session that ends ends everywhere, live view included."""

from __future__ import annotations

import asyncio

import aiohttp

from runtime.config.device_secrets import MAX_PASSWORD_LENGTH
from tests.webui.inprocess import Site
from webui.sessions import COOKIE

LIVE_CLOSE_TIMEOUT_S = 5.0


def test_a_password_change_logs_out_the_other_sessions_of_that_login_only(site: Site) -> None:
    phone, laptop, owner = (site.logged_in(role) for role in ("installer", "installer", "ev"))
    phone.get("/account")
    new = "Correct-Horse-9"
    answer = phone.post(
        "/account", {"current": site.passwords["installer"], "new": new, "again": new}
    )
    assert answer.status == 200 and "Password changed." in answer.text
    assert phone.get("/general").status == 200
    assert laptop.get("/general").location == "/login"
    assert owner.get("/general").status == 200
    assert site.agent().login("installer", site.passwords["installer"]).status == 401
    assert site.agent().login("installer", new).status == 303


def test_a_wrong_current_password_changes_nothing(site: Site) -> None:
    installer = site.logged_in("installer")
    installer.get("/account")
    answer = installer.post(
        "/account", {"current": "not-it-at-all", "new": "x" * 12, "again": "x" * 12}
    )
    assert answer.status == 400 and "The current password is wrong." in answer.text
    assert site.agent().login("installer", site.passwords["installer"]).status == 303


def test_a_too_long_new_password_is_refused_with_a_message(site: Site) -> None:
    ev = site.logged_in("ev")
    ev.get("/account")
    long = "x" * (MAX_PASSWORD_LENGTH + 1)
    answer = ev.post("/account", {"current": site.passwords["ev"], "new": long, "again": long})
    assert answer.status == 400, f"{answer.status}: {answer.text[:120]}"
    assert str(MAX_PASSWORD_LENGTH) in answer.text
    assert site.agent().login("ev", site.passwords["ev"]).status == 303


def test_the_live_view_stops_when_its_session_logs_out(site: Site) -> None:
    installer = site.logged_in("installer")
    installer.get("/general")

    async def scenario() -> bool:
        async with installer.http.ws_connect(
            site.url("/api/live"), headers={"Cookie": f"{COOKIE}={installer.cookie}"}
        ) as socket:
            first = await socket.receive_json(timeout=LIVE_CLOSE_TIMEOUT_S)
            assert "evse" in first
            async with installer.http.post(
                site.url("/logout"),
                data={"csrf_token": installer.csrf_token},
                headers={"Cookie": f"{COOKIE}={installer.cookie}"},
                allow_redirects=False,
            ) as answer:
                assert answer.status == 303
            try:
                async with asyncio.timeout(LIVE_CLOSE_TIMEOUT_S):
                    while (await socket.receive()).type not in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                    ):
                        pass
            except TimeoutError:
                return False
            return True

    closed = site.run(scenario())
    assert closed, f"/api/live still streams {LIVE_CLOSE_TIMEOUT_S:g} s after the logout"
