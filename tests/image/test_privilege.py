"""Least privilege in the booted image under TCG: every ChargeOS program runs as `chargeos`, the
health check proves from the kernel's view that no ChargeOS process but the privileged helper is
root and that the services' user cannot open a slot, the grubenv or the system's login hashes,
and "restart OS" on the Admin page reboots the machine through the helper.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import Browser, Dialog

from tests.image.machine import READY, BuiltImage, booted, log_in, sticker_from_serial

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
SERVICES_UID = 900  # the board's chargeos user
PROGRAMS = ("supervisord", "runtime.sim", "runtime.evse", "webui")


def health_line(serial: str, check: str) -> str:
    """The health report's line of one check."""
    # after the journal's "[uptime] python[pid]: " prefix on the console
    match = re.search(rf"health: {re.escape(check)}: .*$", serial, re.MULTILINE)
    assert match, f"no health line for {check!r} on the console"
    return match.group(0).rstrip()


def test_every_program_is_configured_to_run_as_the_services_user(built_image: BuiltImage) -> None:
    conf = subprocess.run(
        ["unsquashfs", "-cat", str(built_image.squashfs), "etc/chargeos/supervisord.conf"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    sections = conf.split("\n[program:")[1:]
    assert len(sections) == 3  # sim, evse, webapp
    assert all("\nuser=chargeos\n" in section for section in sections)


def test_only_the_helper_is_root_and_restart_os_reboots_through_it(
    built_image: BuiltImage, browser: Browser
) -> None:
    first = (built_image.out_dir / "serial-first.log").read_text(errors="replace")
    password = sticker_from_serial(first)["installer"]
    context = browser.new_context(ignore_https_errors=True)
    try:
        with booted(built_image, "privilege") as boot:
            serial = boot.wait_for(READY)
            line = health_line(serial, "least privilege")
            assert line.startswith("health: least privilege: ok (chargeos.service: ")
            for program in PROGRAMS:
                assert re.search(rf"\b{re.escape(program)} \d+ uid {SERVICES_UID}\b", line), line
            assert " uid 0" not in line.split("; chargeos-privileged.service:")[0]
            # socket-activated: nothing asked it yet, so no root process of ChargeOS runs
            assert "chargeos-privileged.service: not running;" in line
            assert line.endswith(
                "the services cannot open slot A, slot B, grubenv, the system's login hashes)"
            )
            page = context.new_page()
            log_in(page, boot, password)
            page.goto(f"{boot.base_url}/admin")
            page.once("dialog", Dialog.accept)
            page.locator('button[name="command"][value="os.restart"]').click()
            assert boot.wait_until_off(timeout_s=180) == 0  # the charger rebooted itself
            helper = re.search(r"ChargeOS privileged helper: uid (\d+), pid \d+", boot.serial())
            assert helper, "the helper never started"
            assert helper.group(1) == "0"
            assert (
                "for group chargeos (gid 900): install, activate, reboot, debug-ssh"
                in boot.serial()
            )
    finally:
        context.close()
