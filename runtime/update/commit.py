"""After a boot: commit the slot that came up healthy, or notice that an update was rolled back.

Called by the health check (RAUC's mark-good comes from the new system's own check). Every
outcome is idempotent, so a power cut between the environment write and the status write only
repeats the same decision at the next boot:
- healthy, booted the update's target on its trial → commit: tries back to 0, status committed;
- healthy, booted the old slot because the target used up its tries → rolled back: the target
  is marked bad, the old slot first in ORDER, status says "update X failed and was rolled back";
- healthy otherwise → the booted slot's tries back to 0;
- unhealthy on a trial boot → reboot, so GRUB counts the try and falls back after the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.boot import grubenv
from runtime.boot.scheme import MAX_TRIES
from runtime.boot.slots import SlotSet
from runtime.update.status import read_status, write_status


@dataclass(frozen=True)
class BootOutcome:
    """What the boot meant for the update, in words for the console and the Admin page."""

    message: str
    reboot: bool = False


def after_boot(slots: SlotSet, state_dir: Path, healthy: bool) -> BootOutcome:
    """Commit, roll back or just confirm the booted slot, as the status and GRUB's tries say."""
    booted = slots.booted()
    status = read_status(state_dir)
    environment = slots.environment()
    pending = status.state == "installed" and status.activated and status.target_slot is not None
    on_trial = pending and status.target_slot == booted
    if not healthy:
        if on_trial:
            return BootOutcome(
                f"update {status.version} on slot {booted} is not healthy: rebooting, so the "
                "bootloader falls back after its last try",
                reboot=True,
            )
        return BootOutcome(f"slot {booted} is not healthy; it stays up for diagnosis")
    if on_trial:
        grubenv.update(slots.grubenv, {f"{booted}_TRY": "0", f"{booted}_OK": "1"})
        write_status(state_dir, status.model_copy(update={
            "state": "committed", "message": f"Updated to {status.version}.",
        }))  # fmt: skip
        return BootOutcome(f"update {status.version} committed on slot {booted}")
    target = status.target_slot
    if (
        pending
        and target is not None
        and status.from_slot == booted
        and _gave_up(environment, target)
    ):
        grubenv.update(slots.grubenv, {
            f"{target}_OK": "0", "ORDER": f"{booted} {target}",
            f"{booted}_TRY": "0", f"{booted}_OK": "1",
        })  # fmt: skip
        message = f"Update {status.version} failed and was rolled back."
        write_status(state_dir, status.model_copy(update={
            "state": "rolled-back", "message": message,
        }))  # fmt: skip
        return BootOutcome(f"update {status.version} failed and was rolled back to slot {booted}")
    grubenv.update(slots.grubenv, {f"{booted}_TRY": "0", f"{booted}_OK": "1"})
    return BootOutcome(f"slot {booted} marked good")


def _gave_up(environment: dict[str, str], target: str) -> bool:
    """GRUB passed over the target: not OK any more, or its tries are used up."""
    if environment.get(f"{target}_OK") != "1":
        return True
    try:
        return int(environment.get(f"{target}_TRY", "0")) >= MAX_TRIES
    except ValueError:
        return True
