"""The A/B slots as the updater and the health check see them: which slot is booted (from the
kernel command line only), where each slot's block device is, and GRUB's environment that
chooses between them.

On the device the slots are `/dev/disk/by-partlabel/rootfs-a|b`; tests use plain files, so the
same code runs against file-backed slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runtime.boot import grubenv
from runtime.boot.scheme import ESP_MOUNT, GRUBENV, SLOT_ARGUMENT, SLOT_LABELS, SLOTS

_SLOT_ARGUMENT = re.compile(rf"(?:^|\s){re.escape(SLOT_ARGUMENT)}=(\S+)")


class SlotError(RuntimeError):
    """The slots are not in a state the updater may touch; the message says why."""


def booted_slot(cmdline: Path) -> str | None:
    """The A/B slot GRUB booted (`chargeos.slot=A` on the kernel command line), if any."""
    try:
        text = cmdline.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    found = _SLOT_ARGUMENT.search(text)
    return found.group(1) if found and found.group(1) in SLOTS else None


def other_slot(slot: str) -> str:
    """A → B, B → A."""
    return SLOTS[1 - SLOTS.index(slot)]


@dataclass(frozen=True)
class SlotSet:
    """Where the slots, GRUB's environment and the kernel's view of the system are."""

    devices: dict[str, Path]  # "A" -> the slot's block device (or file)
    grubenv: Path
    cmdline: Path = Path("/proc/cmdline")
    mounts: Path = Path("/proc/self/mounts")

    @classmethod
    def on_device(cls) -> SlotSet:
        """The slots of a running ChargeOS image."""
        by_label = Path("/dev/disk/by-partlabel")
        return cls(
            devices={slot: by_label / label for slot, label in SLOT_LABELS.items()},
            grubenv=Path(ESP_MOUNT + GRUBENV),
        )

    def booted(self) -> str:
        """The booted slot; a system not booted from a slot cannot be updated."""
        slot = booted_slot(self.cmdline)
        if slot is None:
            raise SlotError(
                f"this system was not booted from an A/B slot (no chargeos.slot= in {self.cmdline})"
            )
        return slot

    def size(self, slot: str) -> int:
        """Bytes of a slot's device (or file)."""
        with self.devices[slot].open("rb") as device:
            return device.seek(0, 2)

    def environment(self) -> dict[str, str]:
        """GRUB's A/B variables now."""
        return grubenv.read(self.grubenv)

    def check_writable(self, target: str) -> None:
        """Refuse a target that is booted or mounted anywhere."""
        booted = self.booted()
        if target == booted:
            raise SlotError(f"slot {target} is the running system; it is never written")
        device = self.devices[target].resolve()
        booted_device = self.devices[booted].resolve()
        if device == booted_device:
            raise SlotError(f"slots {target} and {booted} are the same device {device}")
        for line in self.mounts.read_text(encoding="utf-8", errors="replace").splitlines():
            source = line.split(" ", 1)[0]
            if source.startswith("/") and Path(source).resolve() == device:
                raise SlotError(f"slot {target} ({device}) is mounted: {line.split(' ')[1]}")
