"""The trial-boot deadline of the image (plain shell): an update's trial boot that is not
confirmed healthy in time reboots, so GRUB counts the try; any other boot is left alone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from runtime.boot import grubenv
from runtime.update.status import UpdateStatus, write_status

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "image" / "overlays" / "common" / "usr" / "lib" / "chargeos" / "trial-deadline"


def run_deadline(tmp_path: Path, slot: str, b_try: str, status: UpdateStatus | None) -> bool:
    """Run the script with a 0 s deadline; True when it asked for a reboot."""
    (tmp_path / "cmdline").write_text(
        f"root=PARTLABEL=rootfs-{slot.lower()} chargeos.slot={slot}\n"
    )
    grubenv.create(tmp_path / "grubenv", {"ORDER": "B A", "A_OK": "1", "A_TRY": "0",
                                          "B_OK": "1", "B_TRY": b_try})  # fmt: skip
    if status is not None:
        write_status(tmp_path / "update", status)
    rebooted = tmp_path / "rebooted"
    environment = {
        **os.environ,
        "CHARGEOS_UPDATE_STATUS": str(tmp_path / "update" / "status.json"),
        "CHARGEOS_GRUBENV": str(tmp_path / "grubenv"),
        "CHARGEOS_CMDLINE": str(tmp_path / "cmdline"),
        "CHARGEOS_CONSOLE": str(tmp_path / "console"),
        "CHARGEOS_REBOOT": f"touch {rebooted}",
    }
    subprocess.run([str(SCRIPT), "0"], env=environment, check=True, timeout=30)
    return rebooted.exists()


TRIAL = UpdateStatus(state="installed", version="0.2.0", from_slot="A", target_slot="B",
                     activated=True)  # fmt: skip


def test_an_unconfirmed_trial_boot_reboots(tmp_path: Path) -> None:
    assert run_deadline(tmp_path, "B", "1", TRIAL)
    assert "not confirmed healthy" in (tmp_path / "console").read_text()


def test_a_confirmed_trial_boot_stays_up(tmp_path: Path) -> None:
    assert not run_deadline(tmp_path, "B", "0", TRIAL)


def test_a_boot_that_is_not_a_trial_is_never_rebooted(tmp_path: Path) -> None:
    cases = {
        "old slot after a fallback": ("A", TRIAL),
        "no update recorded": ("B", None),
        "update committed": ("B", TRIAL.model_copy(update={"state": "committed"})),
    }
    for number, (slot, status) in enumerate(cases.values()):
        case = tmp_path / str(number)
        case.mkdir()
        assert not run_deadline(case, slot, "1", status), list(cases)[number]
