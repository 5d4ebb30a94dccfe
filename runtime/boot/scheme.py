"""The names and numbers of the A/B scheme (RAUC's, in GRUB's environment): one definition that
GRUB's generated configuration, the updater, the health check and the image build all import.

`ORDER` lists the slots to try; `<slot>_OK` says a slot holds a verified system and `<slot>_TRY`
counts boots not yet confirmed healthy. A slot is passed over after MAX_TRIES tries.
"""

from __future__ import annotations

SLOTS = ("A", "B")
SLOT_LABELS = {"A": "rootfs-a", "B": "rootfs-b"}  # GPT partition names, found by PARTLABEL
MAX_TRIES = 3
SLOT_ARGUMENT = "chargeos.slot"  # GRUB appends `chargeos.slot=<slot>` to the kernel command line
ESP_MOUNT = "/boot/efi"  # where the device mounts the boot partition
GRUB_DIR = "/EFI/BOOT"  # on the boot partition
GRUBENV = f"{GRUB_DIR}/grubenv"  # on the boot partition


def initial_environment() -> dict[str, str]:
    """A new disk: slot A holds the system, slot B is empty."""
    return {"ORDER": "A B", "A_OK": "1", "A_TRY": "0", "B_OK": "0", "B_TRY": "0"}
