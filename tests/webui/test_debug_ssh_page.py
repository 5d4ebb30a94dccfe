"""Admin → Debug SSH: on a device the Service Control row shows the unit's real state from the
privileged helper, start/restart/stop go through it and every start is a security event naming
the login and its address; the installer downloads the device key and adds public keys (a bad
line is refused and changes nothing); the EV login gets none of it; under `make run` every part
says plainly that debug SSH exists only on a device.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from runtime.boot.slots import SlotSet
from runtime.config.debug_ssh_keys import device_key_path, ensure_device_key, load_installer_keys
from runtime.config.device_secrets import load_device_secrets
from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLog
from runtime.privileged.debug_ssh import DebugSshAction, UnitState
from runtime.privileged.server import HelperConfig, PrivilegedHelper
from tests.webui.inprocess import Agent, Site
from webui.debug_ssh import ONLY_ON_A_DEVICE


class Unit:
    """The sshd unit as the helper sees it: every action asked, and its state after."""

    def __init__(self) -> None:
        self.active = "inactive"
        self.actions: list[DebugSshAction] = []

    async def control(self, action: DebugSshAction) -> UnitState:
        self.actions.append(action)
        if action in ("start", "restart"):
            self.active = "active"
        elif action == "stop":
            self.active = "inactive"
        return UnitState(self.active)


@pytest.fixture
def device(site: Site, tmp_path: Path) -> Iterator[tuple[Site, Unit]]:
    """The site as on a device: a real privileged helper on its socket, with a unit double."""
    unit = Unit()
    ensure_device_key(site.data_dir, load_device_secrets(site.data_dir).charger_identity)
    with tempfile.TemporaryDirectory(prefix="helper-", dir="/tmp") as folder:
        config = HelperConfig(
            socket_path=Path(folder) / "helper.sock", group_id=os.getgid(),
            group_name="testers", uploads_dir=tmp_path, update_dir=tmp_path / "update",
            slots=SlotSet(devices={}, grubenv=tmp_path / "grubenv"),
            reboot=lambda: asyncio.sleep(0, "no reboot"), debug_ssh=unit.control,
        )  # fmt: skip
        server = site.run(PrivilegedHelper(config).serve())
        site.state.settings = replace(site.state.settings, helper_socket=config.socket_path)
        try:
            yield site, unit
        finally:
            server.close()
            site.run(server.wait_closed())


def row(page: str) -> str:
    """The Debug SSH row of Service Control."""
    return page[page.index("Debug SSH<small") :].split("</tr>")[0]


def press(agent: Agent, command: str) -> tuple[int, str]:
    """A Service Control button."""
    agent.get("/admin")
    answer = agent.post("/admin/service", {"command": command})
    return answer.status, html.unescape(answer.text)


def security_events(site: Site) -> list[tuple[str, str, str]]:
    """(source, code, message) of the event log, oldest first."""
    database = Database.open(site.data_dir / "chargeos.db")
    try:
        events = EventLog(database).recent(100)
    finally:
        database.close()
    return [(event.source, event.code, event.message) for event in reversed(events)]


def public_line(comment: str = "engineer@laptop") -> str:
    """A fresh public key line."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}"


def test_under_make_run_debug_ssh_says_it_exists_only_on_a_device(site: Site) -> None:
    installer = site.logged_in("installer")
    page = html.unescape(installer.get("/admin").text)
    assert "only on a ChargeOS device, not under make run" in row(page)
    assert 'value="sshd.start"' not in page
    assert "Debug SSH exists only on a ChargeOS device (a built image), not under make run" in page
    status, text = press(installer, "sshd.start")
    assert status == 409 and ONLY_ON_A_DEVICE in text
    assert "started" not in text.replace(ONLY_ON_A_DEVICE, "")
    keys = installer.post("/admin/debug-ssh/keys", {"public_keys": public_line()})
    assert keys.status == 409 and load_installer_keys(site.data_dir) == ()
    assert installer.get("/admin/debug-ssh/chargeos-debug-VT_0000001.key").status == 409
    assert not (site.data_dir / "chargeos.db").exists()  # no security event of a start


def test_the_row_shows_the_units_state_and_a_start_is_a_security_event(
    device: tuple[Site, Unit],
) -> None:
    site, unit = device
    installer = site.logged_in("installer")
    assert '<span class="badge">STOPPED</span>' in row(installer.get("/admin").text)
    status, text = press(installer, "sshd.start")
    assert status == 200 and "sshd: Debug SSH is active." in text
    assert "Recorded as a security event in the event log (Monitor)." in text
    assert '<span class="badge">RUNNING</span>' in row(text)
    unit.active = "failed"  # sshd died meanwhile: the row says so, it does not remember
    assert '<span class="badge">FAILED</span>' in row(installer.get("/admin").text)
    status, text = press(installer, "sshd.stop")
    assert status == 200 and '<span class="badge">STOPPED</span>' in row(text)
    assert [action for action in unit.actions if action != "status"] == ["start", "stop"]
    assert security_events(site) == [
        ("webapp", "debug_ssh_started",
         "Debug SSH (root shell on port 22) started by the installer login from 127.0.0.1"),
    ]  # fmt: skip


def test_the_installer_downloads_the_device_key_and_the_ev_login_cannot(
    device: tuple[Site, Unit],
) -> None:
    site, unit = device
    identity = load_device_secrets(site.data_dir).charger_identity
    installer = site.logged_in("installer")
    name = f"chargeos-debug-{identity}.key"
    assert f'href="/admin/debug-ssh/{name}"' in installer.get("/admin").text
    assert installer.get("/admin/debug-ssh/chargeos-debug-VT_9999999.key").status == 404
    answer = installer.get(f"/admin/debug-ssh/{name}")
    assert answer.status == 200
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="chargeos-debug-{identity}.key"'
    )
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.text.encode() == device_key_path(site.data_dir).read_bytes()
    ev = site.logged_in("ev")
    assert "debug-ssh" not in ev.get("/admin").text
    assert ev.get(f"/admin/debug-ssh/{name}").status == 403
    assert ev.post("/admin/debug-ssh/keys", {"public_keys": public_line()}).status == 403
    ev.get("/admin")
    assert ev.post("/admin/service", {"command": "sshd.start"}).status == 403
    assert "start" not in unit.actions and load_installer_keys(site.data_dir) == ()


def test_public_keys_are_saved_validated_and_shown_with_their_fingerprints(
    device: tuple[Site, Unit],
) -> None:
    site, _ = device
    installer = site.logged_in("installer")
    installer.get("/admin")
    good = public_line()
    saved = installer.post("/admin/debug-ssh/keys", {"public_keys": good + "\n"})
    assert saved.status == 200 and "1 public key(s) saved" in saved.text
    (key,) = load_installer_keys(site.data_dir)
    assert key.line() == good and key.fingerprint() in saved.text
    refused = installer.post("/admin/debug-ssh/keys", {"public_keys": f"{good}\nssh-rsa AAAA\n"})
    assert refused.status == 400
    error = re.search(r'id="debug-ssh-keys-error"[^>]*>([^<]*)<', refused.text)
    assert error and html.unescape(error.group(1)).startswith("Authorized public keys, line 2: ")
    assert "ssh-rsa AAAA" in refused.text  # the field keeps what was typed
    assert [k.line() for k in load_installer_keys(site.data_dir)] == [good]
