"""The login lockout holds up under hostile names and many clients: only the device's accounts
are counted by name, the per-client table has a fixed size (the oldest unlocked client goes
first), and neither a flood of names nor of addresses lifts a lock that protects an account.
"""

from __future__ import annotations

import secrets

import pytest

from tests.webui.inprocess import Site
from tests.webui.test_route_table import assert_locked, failed_logins
from webui.sessions import LoginGuard


def small_guard(site: Site, max_clients: int) -> None:
    """The site's guard with room for `max_clients` clients (the profile's limit and lockout)."""
    webui = site.store.profile.webui
    site.state.guard = LoginGuard(
        site.clock, webui.lockout_after_failures, webui.lockout_s, max_clients=max_clients
    )


def test_made_up_user_names_are_not_remembered(site: Site) -> None:
    limit = site.store.profile.webui.lockout_after_failures
    for client in range(30):  # 300 names nobody has: each client until it is locked
        agent = site.agent(f"127.0.1.{client}")
        for _ in range(limit):
            failed_logins(agent, secrets.token_hex(8), 1)
    accounts, clients = site.state.guard.tracked()
    assert accounts == 0  # a name that is no account of this device is counted per client only
    assert clients == 30


def test_the_client_table_keeps_its_size_and_its_locks(site: Site) -> None:
    small_guard(site, max_clients=8)
    limit = site.store.profile.webui.lockout_after_failures
    attacker = site.agent("127.0.2.1")
    failed_logins(attacker, "nobody", limit)
    for client in range(20):  # more clients than the table holds, one failure each
        failed_logins(site.agent(f"127.0.3.{client}"), "nobody", 1)
    assert site.state.guard.tracked() == (0, 8)
    assert_locked(
        attacker.login("installer", site.passwords["installer"]),
        site.store.profile.webui.lockout_s,
    )  # the locked client was kept; the unlocked ones went first


def test_many_clients_cannot_lift_the_lock_of_an_account(site: Site) -> None:
    small_guard(site, max_clients=2)
    limit = site.store.profile.webui.lockout_after_failures
    for client in range(limit):  # every client evicted soon after its one guess
        failed_logins(site.agent(f"127.0.4.{client}"), "installer", 1)
    assert site.state.guard.tracked() == (1, 2)
    assert_locked(
        site.agent("127.0.4.200").login("installer", site.passwords["installer"]),
        site.store.profile.webui.lockout_s,
    )


def test_a_huge_user_name_is_shown_and_logged_cut_short(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    huge = "x" * 100_000
    answer = site.agent().login(huge, "wrong-password")
    assert answer.status == 401 and "Wrong user or password." in answer.text
    assert "x" * 41 not in answer.text
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("failed login")]
    assert logged == [f"failed login for '{'x' * 40}…' from 127.0.0.1"]
