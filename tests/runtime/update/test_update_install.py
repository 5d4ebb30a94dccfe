"""Installing an update into file-backed slots: the inactive slot only, verified before and
after writing, activated for one trial boot in one environment write; a SIGKILL at every step
leaves the booted slot good and the target either bad or fully verified and active.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.boot import grubenv
from runtime.update.install import InstallError, activate_installed, install_update
from runtime.update.status import read_status
from runtime.update.system import RunningSystem
from tests.runtime.update.fakes import PAYLOAD, SLOT_BYTES, damage_payload
from tests.runtime.update.filedevice import OLD_SYSTEM, Device, grub_choice, make_device

REPO = Path(__file__).resolve().parents[3]
KILL_POINTS = ("lock", "mark-bad", "write-half", "write", "read-back", "status", "activate")


@pytest.fixture
def device(tmp_path: Path) -> Device:
    """Booted from slot A; slot B holds an older, unrelated system."""
    return make_device(tmp_path)


def test_an_update_goes_to_the_other_slot_and_is_tried_next(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    steps: list[str] = []
    result = install_update(
        update_zip, system, device.slots, device.state_dir,
        progress=lambda step, fraction: steps.append(step),
    )  # fmt: skip
    assert (result.version, result.target_slot, result.activated) == ("0.3.0", "B", True)
    assert device.slot_bytes("A") == OLD_SYSTEM
    assert device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
    environment = grubenv.read(device.slots.grubenv)
    assert environment == {"ORDER": "B A", "A_OK": "1", "A_TRY": "0", "B_OK": "1", "B_TRY": "0"}
    assert grub_choice(environment) == "B"
    status = read_status(device.state_dir)
    assert (status.state, status.target_slot, status.from_slot, status.activated) == (
        "installed", "B", "A", True,
    )  # fmt: skip
    assert steps[0] == "mark-bad" and steps[-1] == "done" and "write" in steps


def test_a_zip_that_fails_verification_writes_nothing(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    damage_payload(update_zip)
    environment = grubenv.read(device.slots.grubenv)
    with pytest.raises(InstallError, match=r"(?i)sha-256|damaged|changed"):
        install_update(update_zip, system, device.slots, device.state_dir)
    assert device.slot_bytes("B") == b"\x55" * SLOT_BYTES
    assert grubenv.read(device.slots.grubenv) == environment
    assert not device.state_dir.exists()


def test_a_zip_changed_after_its_verification_is_written_but_never_activated(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    def change_the_zip(step: str, _fraction: float) -> None:
        if step == "mark-bad":  # verified; the slot is about to be written
            damage_payload(update_zip)

    with pytest.raises(InstallError, match=r"Slot B does not hold the signed update after writing"):
        install_update(update_zip, system, device.slots, device.state_dir, progress=change_the_zip)
    environment = grubenv.read(device.slots.grubenv)
    assert (environment["B_OK"], grub_choice(environment)) == ("0", "A")
    assert read_status(device.state_dir).state == "failed"


def test_a_mounted_target_slot_is_never_written(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    device.slots.mounts.write_text(f"{device.slots.devices['B']} /mnt squashfs ro 0 0\n")
    with pytest.raises(InstallError, match=r"slot B \(.*\) is mounted"):
        install_update(update_zip, system, device.slots, device.state_dir)
    assert device.slot_bytes("B") == b"\x55" * SLOT_BYTES


def test_a_system_not_booted_from_a_slot_is_not_updated(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    device.slots.cmdline.write_text("console=ttyS0 root=/dev/vda2\n")
    with pytest.raises(InstallError, match=r"not booted from an A/B slot"):
        install_update(update_zip, system, device.slots, device.state_dir)
    assert device.slot_bytes("B") == b"\x55" * SLOT_BYTES


def test_booted_from_b_the_update_goes_to_a(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    device.slots.cmdline.write_text("root=PARTLABEL=rootfs-b chargeos.slot=B\n")
    (device.slots.devices["B"]).write_bytes(OLD_SYSTEM)
    grubenv.update(device.slots.grubenv, {"ORDER": "B A", "B_OK": "1"})
    result = install_update(update_zip, system, device.slots, device.state_dir)
    assert result.target_slot == "A"
    assert device.slot_bytes("B") == OLD_SYSTEM
    assert grubenv.read(device.slots.grubenv)["ORDER"] == "A B"


def test_during_a_session_the_update_installs_and_activates_later(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    install_update(update_zip, system, device.slots, device.state_dir, activate=False)
    environment = grubenv.read(device.slots.grubenv)
    assert environment["B_OK"] == "0" and grub_choice(environment) == "A"
    assert read_status(device.state_dir).activated is False
    activate_installed(device.slots, device.state_dir)
    assert grub_choice(grubenv.read(device.slots.grubenv)) == "B"
    assert read_status(device.state_dir).activated is True
    with pytest.raises(InstallError, match="no installed update waiting"):
        activate_installed(device.slots, device.state_dir.parent / "elsewhere")


def test_only_one_install_runs_at_a_time(
    device: Device, update_zip: Path, system: RunningSystem
) -> None:
    import fcntl

    device.state_dir.mkdir(parents=True)
    with (device.state_dir / "install.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InstallError, match="Another update is being installed"):
            install_update(update_zip, system, device.slots, device.state_dir)
    assert device.slot_bytes("B") == b"\x55" * SLOT_BYTES


INSTALLER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runtime.update.install import install_update
    from runtime.boot.slots import SlotSet
    from tests.runtime.update.fakes import system_for
    from runtime.update.keys import load_keyring
    root, zip_path, pause = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    slots = SlotSet({"A": root / "rootfs-a", "B": root / "rootfs-b"}, root / "grubenv",
                    root / "cmdline", root / "mounts")
    system = system_for(load_keyring(root / "keys").values())
    install_update(zip_path, system, slots, root / "data" / "update", pause_after=pause)
    """
)


def kill_installer_after(device: Device, update_zip: Path, step: str) -> None:
    """Run the installer in its own process; SIGKILL it when it stops after `step`."""
    root = device.slots.grubenv.parent
    process = subprocess.Popen(
        [sys.executable, "-c", INSTALLER, str(root), str(update_zip), step], cwd=REPO
    )
    try:
        _, status = os.waitpid(process.pid, os.WUNTRACED)  # returns once it stops itself
        assert os.WIFSTOPPED(status), f"the installer ended before {step} (status {status})"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("step", KILL_POINTS)
def test_a_kill_at_any_step_leaves_a_good_slot_to_boot(
    device: Device, update_zip: Path, system: RunningSystem, step: str
) -> None:
    keys = device.slots.grubenv.parent / "keys"
    for public in system.keyring:  # the installer process trusts the same key
        assert (keys / f"{public}.pub").exists()
    kill_installer_after(device, update_zip, step)

    environment = grubenv.read(device.slots.grubenv)
    assert device.slot_bytes("A") == OLD_SYSTEM and environment["A_OK"] == "1"
    chosen = grub_choice(environment)
    if environment["B_OK"] == "1":  # active: then B must hold exactly the update
        assert chosen == "B"
        payload = device.slot_bytes("B")[: len(PAYLOAD)]
        assert hashlib.sha256(payload).digest() == hashlib.sha256(PAYLOAD).digest()
    else:
        assert chosen == "A"
    expect_active = step == "activate"
    assert (environment["B_OK"] == "1") == expect_active
    # The lock died with the process: the next install runs and activates the update.
    install_update(update_zip, system, device.slots, device.state_dir)
    assert grub_choice(grubenv.read(device.slots.grubenv)) == "B"
