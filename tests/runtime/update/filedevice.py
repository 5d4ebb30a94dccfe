"""A charger made of files for the installer tests: two slot files, GRUB's environment, a
kernel command line and a mount table, plus what GRUB's A/B script would choose to boot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.boot import grubenv
from runtime.boot.scheme import MAX_TRIES, initial_environment
from runtime.boot.slots import SlotSet
from tests.runtime.update.fakes import SLOT_BYTES

OLD_SYSTEM = bytes(range(256)) * (SLOT_BYTES // 256)  # what slot A (running) holds


@dataclass(frozen=True)
class Device:
    """A charger made of files: two slots, GRUB's environment, a kernel command line."""

    slots: SlotSet
    state_dir: Path

    def slot_bytes(self, slot: str) -> bytes:
        """What a slot holds now."""
        return self.slots.devices[slot].read_bytes()


def make_device(tmp_path: Path) -> Device:
    """Booted from slot A; slot B holds an older, unrelated system."""
    (tmp_path / "rootfs-a").write_bytes(OLD_SYSTEM)
    (tmp_path / "rootfs-b").write_bytes(b"\x55" * SLOT_BYTES)
    env = tmp_path / "grubenv"
    grubenv.create(env, initial_environment())
    (tmp_path / "cmdline").write_text("console=ttyS0 root=PARTLABEL=rootfs-a ro chargeos.slot=A\n")
    (tmp_path / "mounts").write_text("/dev/vda2 / squashfs ro 0 0\n/dev/vda4 /data ext4 rw 0 0\n")
    slots = SlotSet(
        devices={"A": tmp_path / "rootfs-a", "B": tmp_path / "rootfs-b"},
        grubenv=env,
        cmdline=tmp_path / "cmdline",
        mounts=tmp_path / "mounts",
    )
    return Device(slots, tmp_path / "data" / "update")


def grub_choice(environment: dict[str, str]) -> str | None:
    """Which slot GRUB's script boots next: the first in ORDER that is OK with tries left."""
    for slot in environment["ORDER"].split():
        tries = int(environment[f"{slot}_TRY"])
        if environment[f"{slot}_OK"] == "1" and tries < MAX_TRIES:
            return slot
    return None
