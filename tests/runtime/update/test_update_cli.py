"""`python -m runtime.update`: verify prints the verdict (exit 0 only when it would install);
install, activate, status and mark-good against file-backed slots, and a system not booted from
a slot refused plainly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update.__main__ import EXIT_OK, EXIT_REFUSED, EXIT_SYSTEM, main
from runtime.update.keys import key_id
from runtime.update.status import read_status
from runtime.update.system import SYSTEM_FILE
from tests.runtime.update.fakes import PAYLOAD, write_system_root
from tests.runtime.update.filedevice import OLD_SYSTEM, Device, grub_choice, make_device

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def root(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Path:
    """An image's root directory trusting the test key."""
    return write_system_root(tmp_path / "root", [signing_key.public_key()])


def test_an_installable_zip_exits_0_with_the_summary_then_details_indented(
    update_zip: Path, root: Path, signing_key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        f"signed by key {key_id(signing_key.public_key())} and ready to install"
    )
    assert lines[1:] and all(line.startswith("  ") for line in lines[1:])


def test_a_refused_zip_exits_1(
    update_zip: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", str(update_zip), "--root", str(root), "--slot-size", str(len(PAYLOAD) - 1)]
    assert main(args) == EXIT_REFUSED
    assert "larger than this charger's system slot" in capsys.readouterr().out


def test_force_accepts_the_running_version(
    update_zip: Path, tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    root = write_system_root(tmp_path / "same", [signing_key.public_key()], version="0.3.0")
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_REFUSED
    assert main(["verify", str(update_zip), "--root", str(root), "--force"]) == EXIT_OK


def test_an_unreadable_system_description_exits_2(
    update_zip: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / SYSTEM_FILE).write_text("{}")
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_SYSTEM
    assert "system.json: " in capsys.readouterr().err


def test_the_module_runs_from_the_command_line(update_zip: Path, root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.update", "verify", str(update_zip), "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready to install" in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "runtime.update", "verify", str(update_zip.with_name("no.zip"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1 and missing.stdout.startswith("The update file cannot be read.")


# ----- install, activate, status, mark-good against file-backed slots ---------------------------
@pytest.fixture
def device(tmp_path: Path) -> Device:
    """A charger made of files in tmp_path/disk, booted from slot A."""
    folder = tmp_path / "disk"
    folder.mkdir()
    return make_device(folder)


def slot_args(device: Device) -> list[str]:
    """--slots-dir and --state-dir of the file-backed charger."""
    folder = device.slots.grubenv.parent
    return ["--slots-dir", str(folder), "--state-dir", str(device.state_dir)]


def test_install_prints_each_step_and_the_next_restart_tries_slot_b(
    update_zip: Path, root: Path, device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install", str(update_zip), "--root", str(root), *slot_args(device)]) == EXIT_OK
    out = capsys.readouterr().out
    steps = [line.split("%", 1)[1].strip() for line in out.splitlines() if "%" in line]
    assert steps[0] == "Checking" and steps[-1] == "Done"
    assert {"Writing the new system", "Checking what was written"} <= set(steps)
    assert out.splitlines()[-1].startswith("Update 0.3.0 installed in slot B: the next restart")
    assert device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
    assert device.slot_bytes("A") == OLD_SYSTEM
    assert grub_choice(device.slots.environment()) == "B"
    assert read_status(device.state_dir).state == "installed"


def test_install_without_activation_then_activate(
    update_zip: Path, root: Path, device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["activate", *slot_args(device)]) == EXIT_REFUSED  # nothing installed yet
    assert "no installed update waiting" in capsys.readouterr().err
    args = ["install", str(update_zip), "--root", str(root), "--no-activate", *slot_args(device)]
    assert main(args) == EXIT_OK
    assert "not activated: `python -m runtime.update activate`" in capsys.readouterr().out
    assert grub_choice(device.slots.environment()) == "A"
    assert main(["status", "--state-dir", str(device.state_dir)]) == EXIT_OK
    words, _, as_json = capsys.readouterr().out.partition("\n")
    assert words == "Update 0.3.0 installed; it starts when the charging session ends."
    recorded = json.loads(as_json)
    assert (recorded["state"], recorded["activated"], recorded["target_slot"]) == (
        "installed", False, "B",
    )  # fmt: skip
    assert main(["activate", *slot_args(device)]) == EXIT_OK
    assert "Update 0.3.0 activated: slot B is tried at the next restart." in (
        capsys.readouterr().out
    )
    assert grub_choice(device.slots.environment()) == "B"


def test_a_refused_install_exits_1_and_writes_no_slot(
    update_zip: Path, root: Path, device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = bytearray(update_zip.read_bytes())
    damaged[damaged.index(PAYLOAD[:64]) + 100] ^= 0xFF
    update_zip.write_bytes(bytes(damaged))
    before = device.slot_bytes("B")
    assert main(["install", str(update_zip), "--root", str(root), *slot_args(device)]) == (
        EXIT_REFUSED
    )
    assert "not installed: " in capsys.readouterr().err
    assert device.slot_bytes("B") == before
    assert grub_choice(device.slots.environment()) == "A"


def test_a_system_not_booted_from_a_slot_says_so(
    update_zip: Path, root: Path, device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    device.slots.cmdline.write_text("console=ttyS0 root=/dev/sda1 ro\n")
    before = device.slot_bytes("B"), device.slots.grubenv.read_bytes()
    commands = (
        ["install", str(update_zip), "--root", str(root)],
        ["activate"],
        ["mark-good"],
    )
    for command in commands:
        assert main([*command, *slot_args(device)]) == EXIT_REFUSED, command
        assert "not booted from an A/B slot (no chargeos.slot= in" in capsys.readouterr().err
    assert (device.slot_bytes("B"), device.slots.grubenv.read_bytes()) == before
    assert read_status(device.state_dir).state == "idle"


def test_mark_good_commits_the_trial_boot_of_the_update(
    update_zip: Path, root: Path, device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install", str(update_zip), "--root", str(root), *slot_args(device)]) == EXIT_OK
    device.slots.cmdline.write_text("root=PARTLABEL=rootfs-b ro chargeos.slot=B\n")  # rebooted
    capsys.readouterr()
    assert main(["mark-good", *slot_args(device)]) == EXIT_OK
    assert capsys.readouterr().out == "update 0.3.0 committed on slot B\n"
    assert main(["status", "--state-dir", str(device.state_dir)]) == EXIT_OK
    assert capsys.readouterr().out.startswith("Updated to 0.3.0.\n")


def test_status_without_an_update_is_idle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--state-dir", str(tmp_path / "none")]) == EXIT_OK
    words, _, as_json = capsys.readouterr().out.partition("\n")
    assert words == "No update has been installed."
    assert json.loads(as_json)["state"] == "idle"


def test_the_test_only_slots_dir_is_not_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["install", "--help"])
    shown = capsys.readouterr().out
    assert "--no-activate" in shown and "--state-dir" in shown and "--slots-dir" not in shown


def test_install_runs_from_the_command_line(update_zip: Path, root: Path, device: Device) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.update", "install", str(update_zip), "--root", str(root),
         *slot_args(device)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Done" in done.stdout
    assert grub_choice(device.slots.environment()) == "B"
