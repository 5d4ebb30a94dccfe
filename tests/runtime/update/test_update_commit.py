"""After the reboot into an update: a healthy trial commits the new slot; a slot GRUB gave up on
reads as "update X failed and was rolled back"; an unhealthy trial asks for a reboot so GRUB
can count the try. Each decision is idempotent (a power cut repeats it, never undoes it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.boot import grubenv
from runtime.boot.scheme import MAX_TRIES
from runtime.update.commit import after_boot
from runtime.update.install import install_update
from runtime.update.status import read_status
from runtime.update.system import RunningSystem
from tests.runtime.update.filedevice import Device, grub_choice, make_device


@pytest.fixture
def device(tmp_path: Path) -> Device:
    """Booted from slot A, no update yet."""
    return make_device(tmp_path)


@pytest.fixture
def installed(device: Device, update_zip: Path, system: RunningSystem) -> Device:
    """Update 0.3.0 installed into slot B and activated; the charger has not rebooted yet."""
    install_update(update_zip, system, device.slots, device.state_dir)
    return device


def boot(device: Device) -> str:
    """What GRUB does at power on: choose a slot, count its try, pass it on the command line."""
    environment = grubenv.read(device.slots.grubenv)
    slot = grub_choice(environment)
    assert slot is not None
    tries = int(environment[f"{slot}_TRY"]) + 1
    grubenv.update(device.slots.grubenv, {f"{slot}_TRY": str(tries)})
    device.slots.cmdline.write_text(f"root=PARTLABEL=rootfs-{slot.lower()} chargeos.slot={slot}\n")
    return slot


def test_a_healthy_trial_boot_commits_the_update(installed: Device) -> None:
    assert boot(installed) == "B"
    outcome = after_boot(installed.slots, installed.state_dir, healthy=True)
    assert outcome.message == "update 0.3.0 committed on slot B" and not outcome.reboot
    environment = grubenv.read(installed.slots.grubenv)
    assert (environment["ORDER"], environment["B_OK"], environment["B_TRY"]) == ("B A", "1", "0")
    status = read_status(installed.state_dir)
    assert status.state == "committed" and status.describe() == "Updated to 0.3.0."
    assert after_boot(installed.slots, installed.state_dir, healthy=True).message == (
        "slot B marked good"
    )  # the next boots only confirm


def test_an_unhealthy_trial_reboots_until_grub_falls_back_then_says_rolled_back(
    installed: Device,
) -> None:
    for _ in range(MAX_TRIES):
        assert boot(installed) == "B"
        outcome = after_boot(installed.slots, installed.state_dir, healthy=False)
        assert outcome.reboot, outcome.message
    assert boot(installed) == "A"  # B used up its tries
    outcome = after_boot(installed.slots, installed.state_dir, healthy=True)
    assert outcome.message == "update 0.3.0 failed and was rolled back to slot A"
    environment = grubenv.read(installed.slots.grubenv)
    assert (environment["ORDER"], environment["B_OK"], environment["A_TRY"]) == ("A B", "0", "0")
    status = read_status(installed.state_dir)
    assert status.state == "rolled-back"
    assert status.describe() == "Update 0.3.0 failed and was rolled back."
    assert boot(installed) == "A"


def test_a_trial_that_never_reaches_the_health_check_also_falls_back(installed: Device) -> None:
    for _ in range(MAX_TRIES):
        assert boot(installed) == "B"  # a kernel panic or a hang: nothing runs after_boot
    assert boot(installed) == "A"
    assert "rolled back" in after_boot(installed.slots, installed.state_dir, healthy=True).message


def test_the_old_system_failing_its_check_is_not_rebooted_into_a_loop(device: Device) -> None:
    assert boot(device) == "A"
    outcome = after_boot(device.slots, device.state_dir, healthy=False)
    assert not outcome.reboot and "stays up" in outcome.message


def test_before_the_reboot_the_running_system_does_not_roll_back(installed: Device) -> None:
    outcome = after_boot(installed.slots, installed.state_dir, healthy=True)  # still on A
    assert outcome.message == "slot A marked good"
    assert grub_choice(grubenv.read(installed.slots.grubenv)) == "B"
    assert read_status(installed.state_dir).state == "installed"
