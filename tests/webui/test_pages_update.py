"""Admin → System Update installs: a real signed zip uploaded as the browser sends it, installed
into file-backed slots of a fake image (booted from A), the progress endpoint's steps, the LED
told about the install, restart at once or after the charging session (or at "Restart into X
now"), the recorded status in words, and everything that must write nothing: a hostile zip, a
development system, the EV login.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from image.builder.update_zip import write_update_zip
from runtime.boot import grubenv
from runtime.privileged.server import HelperConfig, PrivilegedHelper
from runtime.update.commit import after_boot
from runtime.update.install import install_update
from runtime.update.status import UpdateStatus, read_status, write_status
from runtime.update.system import running_system
from tests.runtime.evse.api_harness import RunningEvse
from tests.runtime.evse.test_api_sessions import plugged_and_charging
from tests.runtime.update.fakes import FIELDS, PAYLOAD, assemble, members_for, write_system_root
from tests.runtime.update.filedevice import Device, grub_choice, make_device
from tests.webui.inprocess import Agent, Site
from tests.webui.test_pages_admin import leftovers, send, upload, wait_for
from tests.webui.test_pages_transactions_monitor import evse_running
from webui import restarts
from webui import updater as updater_module
from webui.pages import update
from webui.updater import UPDATER_KEY, Updater

RESTARTING = "Update 0.3.0 installed. The charger restarts into it now."
WAITING = "Update 0.3.0 installed; it starts when the charging session ends."
NO_ANSWER = "The charging controller does not answer (no answer within 0.2 s), so a car may be"
NOT_RUNNING = "The charging controller does not answer (it is not running), so a car may be"
RESTART_LABEL = "Restart into 0.3.0 now (ends the charging session)"


@dataclass
class Charger:
    """The site on a fake ChargeOS 0.2.0 image with file-backed slots, and its signed update."""

    site: Site
    device: Device
    key: Ed25519PrivateKey
    update_zip: bytes
    reboots: list[str] = field(default_factory=list)

    @property
    def updater(self) -> Updater:
        """The app's updater."""
        return self.site.app[UPDATER_KEY]

    def progress(self, agent: Agent) -> dict[str, Any]:
        """GET /admin/install/progress as the page's script reads it."""
        answer = agent.get("/admin/install/progress")
        assert answer.status == 200, answer.text
        result: dict[str, Any] = json.loads(answer.text)
        return result

    def wait_for_phase(self, agent: Agent, phase: str) -> dict[str, Any]:
        """Poll the progress endpoint (bounded) until the install reaches `phase`."""
        seen: list[dict[str, Any]] = []
        wait_for(
            self.site,
            lambda: seen.append(self.progress(agent)) or seen[-1]["phase"] == phase,
            f"phase {phase} (last: {seen[-1] if seen else None})",
        )
        return seen[-1]


@pytest.fixture
def charger(site: Site, tmp_path: Path) -> Charger:
    """ChargeOS 0.2.0 trusting a new key, booted from slot A; update 0.3.0 signed by that key.
    Reboots are recorded instead of done; the session watcher polls every 50 ms."""
    key = Ed25519PrivateKey.generate()
    root = write_system_root(tmp_path / "root", [key.public_key()])
    (tmp_path / "disk").mkdir()
    device = make_device(tmp_path / "disk")
    site.state.settings = replace(
        site.state.settings, system_root=root, slots=device.slots, update_dir=device.state_dir
    )
    payload, zip_path = tmp_path / "rootfs.squashfs", tmp_path / "update.zip"
    payload.write_bytes(PAYLOAD)
    write_update_zip(zip_path, FIELDS, {"rootfs": payload}, [key])
    made = Charger(site, device, key, zip_path.read_bytes())

    async def recorded_reboot() -> str:
        made.reboots.append("reboot")
        return "recorded"

    made.updater.reboot = recorded_reboot
    made.updater.reboot_delay_s = 0.0
    made.updater.poll_s = 0.05
    made.updater.evse_timeout_s = 0.2
    return made


@contextmanager
def silent_evse(site: Site) -> Iterator[Path]:
    """A Unix-socket server where the evse's socket is that accepts and never answers."""
    socket_path = site.state.settings.evse_socket
    socket_path.parent.mkdir(parents=True, exist_ok=True)

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = site.run(asyncio.start_unix_server(never_answer, path=str(socket_path)))
    try:
        yield socket_path
    finally:
        server.close()
        site.run(server.wait_closed())
        socket_path.unlink(missing_ok=True)


class Gates:
    """Stops the install thread at named points until the test lets it go on."""

    def __init__(self, *points: str) -> None:
        self.reached = {point: threading.Event() for point in points}
        self.go = {point: threading.Event() for point in points}

    def at(self, point: str) -> None:
        """In the install thread: stop here (once) if the test asked to."""
        if point in self.reached and not self.reached[point].is_set():
            self.reached[point].set()
            assert self.go[point].wait(20), f"the test never let the install go on at {point}"

    def release(self) -> None:
        """Let the install run to its end."""
        for event in self.go.values():
            event.set()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    """The updater's install, stopping before it starts and after each progress report."""
    made = Gates("start", "mark-bad", "write", "read-back", "done")

    def gated(*args: Any, progress: Callable[[str, float], None], **kwargs: Any) -> Any:
        made.at("start")

        def report(step: str, fraction: float) -> None:
            progress(step, fraction)
            made.at(step)

        return install_update(*args, progress=report, **kwargs)

    monkeypatch.setattr(updater_module, "install_update", gated)
    try:
        yield made
    finally:
        made.release()


def reached(charger: Charger, gates: Gates, point: str) -> None:
    """Wait (bounded, the site's loop running) until the install thread stops at `point`."""
    wait_for(charger.site, gates.reached[point].is_set, f"the install to reach {point}")


def untouched(charger: Charger) -> None:
    """Slot B, GRUB's choice and the update status are as the charger came."""
    assert charger.device.slot_bytes("B") == b"\x55" * len(charger.device.slot_bytes("B"))
    assert grub_choice(charger.device.slots.environment()) == "A"
    assert read_status(charger.device.state_dir).state == "idle"
    assert charger.reboots == []


# ----- installing ---------------------------------------------------------------------------
def test_a_good_update_installs_into_slot_b_and_restarts_into_it(charger: Charger) -> None:
    installer = charger.site.logged_in("installer")
    with evse_running(charger.site):  # it answers: no charging session
        answer = upload(installer, charger.update_zip)
        verdict = answer.json()
        assert answer.status == 200 and verdict["ok"] is True
        assert verdict["summary"].endswith(" and is being installed.")
        progress = charger.wait_for_phase(installer, "restarting")
    assert progress["message"] == RESTARTING and progress["restart_now"] is False
    assert charger.device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
    assert grub_choice(charger.device.slots.environment()) == "B"
    recorded = read_status(charger.device.state_dir)
    assert (recorded.state, recorded.activated, recorded.target_slot) == ("installed", True, "B")
    wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")
    page = installer.get("/admin").text
    assert f'id="update-message" data-install-message role="status">{RESTARTING}</p>' in page
    assert leftovers(charger.site) == []  # the zip is gone once installed


def test_the_progress_endpoint_reports_each_step_while_the_led_blinks(
    charger: Charger, gates: Gates
) -> None:
    installer = charger.site.logged_in("installer")
    with evse_running(charger.site) as evse:
        assert upload(installer, charger.update_zip).json()["ok"] is True
        seen = []
        for point in ("start", "mark-bad", "write", "read-back", "done"):
            reached(charger, gates, point)
            progress = charger.progress(installer)
            assert progress["phase"] == "installing" and progress["version"] == "0.3.0"
            assert progress["message"] == "Installing update 0.3.0."
            seen.append((progress["step"], progress["percent"]))
            if point == "mark-bad":
                wait_for(charger.site, lambda: evse_status(charger, evse).updating, "the LED")
                busy = upload(installer, charger.update_zip)
                assert busy.status == 409 and busy.json()["summary"] == update.BUSY
            gates.go[point].set()
        assert seen == [
            ("Checking", 0),
            ("Writing the new system", 2),
            ("Writing the new system", 87),
            ("Checking what was written", 87),
            ("Done", 100),
        ]
        charger.wait_for_phase(installer, "restarting")  # the car is not plugged: no session
        assert evse_status(charger, evse).updating is False
    assert grub_choice(charger.device.slots.environment()) == "B"


def evse_status(charger: Charger, evse: RunningEvse) -> Any:
    """The evse's status now."""
    return charger.site.run(evse.client.status())


def test_during_a_session_the_update_waits_and_restart_now_activates_it(
    charger: Charger,
) -> None:
    installer = charger.site.logged_in("installer")
    with evse_running(charger.site) as evse:
        charger.site.run(plugged_and_charging(evse))
        assert upload(installer, charger.update_zip).json()["ok"] is True
        progress = charger.wait_for_phase(installer, "waiting")
        assert progress["message"] == WAITING
        assert progress["restart_now"] is True and progress["restart_label"] == RESTART_LABEL
        assert grub_choice(charger.device.slots.environment()) == "A"  # not activated
        assert read_status(charger.device.state_dir).state == "installed"
        page = installer.get("/admin").text
        assert WAITING in page
        restart = page[page.index('id="update-restart"') :].split("</form>")[0]
        assert " hidden" not in restart.split(">")[0]
        assert f'id="update-restart-button" class="danger">{RESTART_LABEL}</button>' in restart
        assert evse_status(charger, evse).state == "charging"  # the session goes on
        assert charger.reboots == []

        answer = installer.post("/admin/install/restart")
        assert answer.status == 200 and RESTARTING in answer.text
        assert grub_choice(charger.device.slots.environment()) == "B"
        wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")
        again = installer.post("/admin/install/restart")
        assert again.status == 409
        assert "There is no installed update waiting to be activated." in again.text


def test_the_waiting_update_starts_once_the_session_ends(charger: Charger) -> None:
    installer = charger.site.logged_in("installer")
    with evse_running(charger.site) as evse:
        transaction_id = charger.site.run(plugged_and_charging(evse))
        assert upload(installer, charger.update_zip).json()["ok"] is True
        charger.wait_for_phase(installer, "waiting")
        assert charger.site.run(evse.client.remote_stop(transaction_id)) == "Accepted"
        evse.station.car.unplug()
        progress = charger.wait_for_phase(installer, "restarting")
        assert progress["message"] == RESTARTING
    assert grub_choice(charger.device.slots.environment()) == "B"
    wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")


def test_an_update_left_waiting_by_the_last_run_starts_when_no_session_is_open(
    charger: Charger, tmp_path: Path
) -> None:
    zip_path = tmp_path / "left.zip"
    zip_path.write_bytes(charger.update_zip)
    system = running_system(charger.site.state.settings.system_root)
    device = charger.device
    install_update(zip_path, system, device.slots, device.state_dir, activate=False)
    with evse_running(charger.site):
        charger.site.run(charger.updater.resume())  # as at the web app's start
        wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")
    assert grub_choice(device.slots.environment()) == "B"


@contextmanager
def through_the_helper(charger: Charger, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The site as on an image: its installs, activations and reboots go through a privileged
    helper (on the site's loop) that serves this process's group; its reboots are recorded."""
    monkeypatch.setenv("CHARGEOS_IMAGE", "1")
    monkeypatch.setattr(restarts, "REBOOT_COMMAND", ("false",))  # never this host's reboot
    settings = charger.site.state.settings

    async def reboot() -> str:
        charger.reboots.append("reboot")
        return "recorded by the helper"

    with tempfile.TemporaryDirectory(prefix="helper-", dir="/tmp") as folder:
        config = HelperConfig(
            socket_path=Path(folder) / "helper.sock",
            group_id=os.getgid(),
            group_name="testers",
            uploads_dir=settings.uploads_dir,
            update_dir=charger.device.state_dir,
            slots=charger.device.slots,
            reboot=reboot,
            system_root=settings.system_root,
        )
        server = charger.site.run(PrivilegedHelper(config).serve())
        charger.site.state.settings = replace(settings, helper_socket=config.socket_path)
        charger.updater.reboot = charger.updater.default_reboot
        try:
            yield config.socket_path
        finally:
            server.close()
            charger.site.run(server.wait_closed())


def test_on_an_image_the_update_installs_activates_and_reboots_through_the_helper(
    charger: Charger, monkeypatch: pytest.MonkeyPatch
) -> None:
    installer = charger.site.logged_in("installer")
    with through_the_helper(charger, monkeypatch), evse_running(charger.site) as evse:
        charger.site.run(plugged_and_charging(evse))
        assert upload(installer, charger.update_zip).json()["ok"] is True
        assert charger.wait_for_phase(installer, "waiting")["message"] == WAITING
        assert charger.device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
        assert grub_choice(charger.device.slots.environment()) == "A"  # not activated yet
        answer = installer.post("/admin/install/restart")
        assert answer.status == 200 and RESTARTING in answer.text
        assert grub_choice(charger.device.slots.environment()) == "B"
        wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")
    assert leftovers(charger.site) == []


# ----- an evse that does not answer: maybe in a session ----------------------------------------
def waits_without_restarting(charger: Charger, agent: Agent, words: str) -> dict[str, Any]:
    """The update waits, saying the evse does not answer, through three more unanswered polls."""
    seen: list[dict[str, Any]] = []

    def polled(check: Callable[[dict[str, Any]], bool]) -> bool:
        seen.append(charger.progress(agent))
        return check(seen[-1])

    wait_for(charger.site, lambda: polled(lambda p: words in p["message"]), f"words {words!r}")
    first = seen[-1]["evse_unanswered"]
    wait_for(
        charger.site,
        lambda: polled(lambda p: p["evse_unanswered"] >= first + 3),
        f"three more unanswered polls (last: {seen[-1]})",
    )
    progress = seen[-1]
    assert progress["phase"] == "waiting", progress
    assert progress["message"].startswith(WAITING + " " + words), progress["message"]
    assert progress["restart_now"] is True  # the installer may still decide
    assert charger.reboots == []
    assert grub_choice(charger.device.slots.environment()) == "A"  # not activated
    return progress


def test_an_evse_that_does_not_answer_in_time_is_no_reason_to_restart(charger: Charger) -> None:
    installer = charger.site.logged_in("installer")
    with silent_evse(charger.site):
        assert upload(installer, charger.update_zip).json()["ok"] is True
        waits_without_restarting(charger, installer, NO_ANSWER)
        assert NO_ANSWER in installer.get("/admin").text
    waits_without_restarting(charger, installer, NOT_RUNNING)  # no evse at all: unknown too
    with evse_running(charger.site):  # it answers at last: no session, so the update starts
        progress = charger.wait_for_phase(installer, "restarting")
        assert progress["message"] == RESTARTING
    wait_for(charger.site, lambda: charger.reboots == ["reboot"], "the reboot")
    assert grub_choice(charger.device.slots.environment()) == "B"


def test_a_session_whose_evse_stops_answering_keeps_the_update_waiting(charger: Charger) -> None:
    installer = charger.site.logged_in("installer")
    with evse_running(charger.site) as evse:
        charger.site.run(plugged_and_charging(evse))
        assert upload(installer, charger.update_zip).json()["ok"] is True
        assert charger.wait_for_phase(installer, "waiting")["message"] == WAITING
        charger.site.run(evse.stop_api())  # the controller runs on, its API falls silent
        with silent_evse(charger.site):
            waits_without_restarting(charger, installer, NO_ANSWER)
        assert evse.controller.machine.state.value == "charging"  # the car still charges


def test_an_install_that_fails_says_why_and_activates_nothing(charger: Charger) -> None:
    slots = charger.device.slots
    slots.mounts.write_text(slots.mounts.read_text() + f"{slots.devices['B']} /mnt ext4 ro 0 0\n")
    installer = charger.site.logged_in("installer")
    assert upload(installer, charger.update_zip).json()["ok"] is True
    progress = charger.wait_for_phase(installer, "failed")
    assert progress["message"].startswith("Update 0.3.0 failed: The update cannot be installed:")
    assert "is mounted: /mnt" in progress["message"]
    untouched(charger)
    assert 'class="update-message error"' in installer.get("/admin").text


def test_an_install_interrupted_by_a_power_cut_reads_as_failed_after_the_restart(
    charger: Charger,
) -> None:
    write_status(
        charger.device.state_dir,
        UpdateStatus(state="installing", version="0.3.0", from_slot="A", target_slot="B"),
    )
    charger.site.run(charger.updater.resume())
    recorded = read_status(charger.device.state_dir)
    assert recorded.state == "failed"
    assert recorded.message.startswith("Update 0.3.0 failed: the install was interrupted")


# ----- the recorded status --------------------------------------------------------------------
def test_a_rolled_back_update_is_said_on_the_page(charger: Charger, tmp_path: Path) -> None:
    zip_path = tmp_path / "trial.zip"
    zip_path.write_bytes(charger.update_zip)
    device = charger.device
    system = running_system(charger.site.state.settings.system_root)
    install_update(zip_path, system, device.slots, device.state_dir)
    grubenv.update(device.slots.grubenv, {"B_TRY": "3"})  # slot B failed its trials; A is back
    after_boot(device.slots, device.state_dir, healthy=True)
    for role in ("installer", "ev"):
        page = charger.site.logged_in(role).get("/admin").text
        assert "Update 0.3.0 failed and was rolled back." in page, role


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (UpdateStatus(state="committed", version="0.3.0", message="Updated to 0.3.0."),
         "Updated to 0.3.0."),
        (UpdateStatus(state="failed", version="0.3.0", message="Slot B does not read back."),
         "Update 0.3.0 failed: Slot B does not read back."),
        (UpdateStatus(state="installed", version="0.3.0", activated=True),
         "Update 0.3.0 is installed; the charger starts it at its next restart."),
    ],
    ids=["committed", "failed", "installed"],
)  # fmt: skip
def test_the_recorded_status_is_shown_in_words(
    charger: Charger, status: UpdateStatus, words: str
) -> None:
    write_status(charger.device.state_dir, status)
    page = charger.site.logged_in("ev").get("/admin").text
    assert words in page


def test_without_an_update_no_status_is_shown(charger: Charger) -> None:
    page = charger.site.logged_in("installer").get("/admin").text
    assert 'id="update-message" data-install-message role="status" hidden></p>' in page
    assert 'id="update-restart"' in page and 'data-confirm="Restart into the update now?' in page


# ----- nothing written --------------------------------------------------------------------------
def test_a_hostile_zip_writes_nothing(charger: Charger) -> None:
    manifest = json.dumps(
        {**FIELDS, "payloads": [{"name": "rootfs", "file": "rootfs.squashfs",
                                 "size": len(PAYLOAD), "sha256": "0" * 64}]}
    ).encode()  # fmt: skip
    members = members_for(manifest, [charger.key])
    members[-1] = replace(members[-1], local_name="../../etc/passwd")  # names disagree
    answer = upload(charger.site.logged_in("installer"), assemble(members))
    verdict = answer.json()
    assert answer.status == 200 and verdict["ok"] is False
    assert verdict["details"][-1].startswith("Nothing was installed")
    assert charger.progress(charger.site.logged_in("installer"))["phase"] == "idle"
    untouched(charger)
    assert leftovers(charger.site) == []


def test_a_development_system_refuses_to_install(charger: Charger) -> None:
    site = charger.site
    site.state.settings = replace(site.state.settings, slots=None)
    verdict = upload(site.logged_in("installer"), charger.update_zip).json()
    assert verdict["ok"] is False
    assert verdict["summary"].endswith(" and verified; updates install only on a ChargeOS image.")
    untouched(charger)
    assert leftovers(site) == []


def test_the_ev_login_cannot_install(charger: Charger) -> None:
    ev = charger.site.logged_in("ev")
    verdict = upload(ev, charger.update_zip).json()
    assert verdict["ok"] is False
    assert verdict["summary"].endswith(" and verified; only the installer login installs updates.")
    assert send(ev, "GET", "/admin/install/progress").status == 403
    ev.get("/admin")
    assert ev.post("/admin/install/restart").status == 403
    page = ev.get("/admin").text
    assert "/admin/install/restart" not in page and "data-progress-url" not in page
    untouched(charger)
