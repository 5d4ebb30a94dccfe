"""Debug SSH and the hardware watchdog in the booted image under TCG, sharing one boot.

Debug SSH is off at boot; started from the Admin page it lets in root with this charger's own
key (downloaded there) or the installer's uploaded key, and nobody else (another key, a password,
another user); its start is a security event on the Monitor page. Then, through that root shell,
systemd (PID 1, the watchdog's feeder) is frozen: the i6300esb resets the machine by itself (no
power cycle by the harness, no orderly reboot), the charger comes back healthy in a good slot,
and debug SSH is gone until it is started again, with the same host key.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.image.debug_shell import (
    START_TIMEOUT_MS,
    STARTED,
    STOPPED,
    banner,
    debug_ssh_state,
    new_key,
    press,
    start_debug_shell,
)
from tests.image.machine import (
    READY,
    BuiltImage,
    booted,
    log_in,
    read_boot_environment,
    sticker_from_serial,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]
UNIT = "chargeos-debug-ssh.service"
# RuntimeWatchdogSec=30s (two stages of the i6300esb), then a whole boot to the health check.
WATCHDOG_REBOOT_S = 600.0
GRUB_BOOTING = re.compile(r"ChargeOS: booting slot ([AB]) \(rootfs-[ab]\), try \d+")
# systemd (PID 1) feeds the watchdog. The kernel ignores SIGSTOP sent to init (only signals it
# has a handler for reach it), so the test freezes PID 1's cgroup instead: the feeding stops.
FREEZE_PID_1 = (
    "echo 1 > /sys/fs/cgroup/init.scope/cgroup.freeze && sleep 2"
    " && cat /sys/fs/cgroup/init.scope/cgroup.events"
)
MONITOR_WAIT_MS = 30_000  # the Monitor page's error log (evse API, then render)


def installer_password(built: BuiltImage, serial: str) -> str:
    """The installer login of the first boot (test_image's, or this boot when run alone)."""
    first = built.out_dir / "serial-first.log"
    printed = first.read_text(errors="replace") if first.exists() else serial
    return sticker_from_serial(printed)["installer"]


def test_debug_ssh_lets_in_only_the_device_credentials_and_a_frozen_system_resets_itself(
    built_image: BuiltImage, page: Page, tmp_path: Path
) -> None:
    with booted(built_image, "debug-ssh", reboot_ends_qemu=False, forward_ssh=True) as boot:
        assert boot.ssh_port is not None
        serial = boot.wait_for(READY)
        assert banner(boot.ssh_port) == b""  # off at boot
        log_in(page, boot, installer_password(built_image, serial))
        assert debug_ssh_state(page, boot) == "STOPPED"
        installer_key = new_key(tmp_path / "installer")
        page.locator('textarea[name="public_keys"]').fill(
            installer_key.with_suffix(".pub").read_text()
        )
        page.get_by_role("button", name="Save public keys").click()
        expect(page.get_by_text("1 public key(s) saved")).to_be_visible()

        shell = start_debug_shell(page, boot, tmp_path)
        assert debug_ssh_state(page, boot) == "RUNNING"
        assert banner(boot.ssh_port).startswith(b"SSH-2.0-OpenSSH")
        checks = shell.check(f"id -u; stat -c '%U %a' /data/debug-ssh; systemctl is-enabled {UNIT}")
        assert checks.splitlines() == ["0", "root 700", "static"]  # root; never enabled
        assert shell.with_key(installer_key).check("id -un") == "root\n"
        stranger = shell.with_key(new_key(tmp_path / "stranger")).run("id")
        assert stranger.returncode == 255 and "Permission denied (publickey)" in stranger.stderr
        password = shell.with_key(None).run(
            "id", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
        )  # fmt: skip
        assert password.returncode == 255 and "Permission denied (publickey)" in password.stderr
        other_user = shell.run("id", user="chargeos")
        assert other_user.returncode == 255 and "Permission denied" in other_user.stderr
        page.goto(f"{boot.base_url}/monitor")
        started_by = "Debug SSH (root shell on port 22) started by the installer login from"
        expect(page.get_by_text(started_by)).to_be_visible(timeout=MONITOR_WAIT_MS)

        booted_slot = GRUB_BOOTING.findall(boot.serial())[-1]
        mark = len(boot.serial())
        assert "frozen 1" in shell.check(FREEZE_PID_1)
        serial = boot.wait_for("ChargeOS: booting slot", WATCHDOG_REBOOT_S, after=mark)
        rebooted_at = serial.index("ChargeOS: booting slot", mark)
        assert "reboot: Restarting system" not in serial[mark:rebooted_at]  # not an orderly one
        serial = boot.wait_for(READY, WATCHDOG_REBOOT_S, after=rebooted_at)
        assert boot.power_cycles == 0  # the hardware reset it, not the harness
        assert GRUB_BOOTING.findall(serial[mark:]) == [booted_slot]

        assert banner(boot.ssh_port) == b""  # gone after the reboot
        log_in(page, boot, installer_password(built_image, serial))
        assert debug_ssh_state(page, boot) == "STOPPED"
        press(page, boot, "sshd.start")
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=START_TIMEOUT_MS)
        again = shell.run("true", "-o", "StrictHostKeyChecking=yes")
        assert again.returncode == 0, again.stderr  # the same host key, kept on /data
        press(page, boot, "sshd.stop")
        expect(page.get_by_text(STOPPED)).to_be_visible(timeout=START_TIMEOUT_MS)
        assert banner(boot.ssh_port) == b""
    environment = read_boot_environment(built_image.image)
    assert (environment[f"{booted_slot}_OK"], environment[f"{booted_slot}_TRY"]) == ("1", "0")
