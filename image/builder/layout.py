"""The GPT disk layout of a board: where each partition starts, its type, label and UUID.

Computed from the board description alone, so the disk image, GRUB's configuration and the
partition test agree on it. Partitions are 1 MiB aligned and numbered in the order the board lists
them; GRUB addresses a root slot by that number (`gpt2`), the kernel and the device's updater by
its label (PARTLABEL, runtime.boot.scheme).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from schemas.image import Board, Partition, size_bytes

SECTOR = 512
ALIGN = 1024 * 1024
GPT_TAIL = 1024 * 1024  # room for the backup GPT at the end of the disk

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_DATA_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
# The Discoverable Partitions Specification's root partition type per architecture.
ROOT_TYPES = {
    "amd64": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "arm64": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
    "armhf": "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
}
DISK_ID_NAMESPACE = uuid.UUID("5e0b9a3c-0d6b-4d7a-9c1e-000000000000")


@dataclass(frozen=True)
class PlacedPartition:
    """A partition with its place on the disk."""

    number: int
    partition: Partition
    start: int  # bytes
    size: int  # bytes
    type_guid: str

    @property
    def label(self) -> str:
        """The GPT partition name."""
        return self.partition.label


@dataclass(frozen=True)
class DiskLayout:
    """The whole GPT disk of a board."""

    disk_id: str
    partitions: tuple[PlacedPartition, ...]
    size: int  # bytes

    def by_label(self, label: str) -> PlacedPartition:
        """The partition named `label`."""
        for placed in self.partitions:
            if placed.label == label:
                return placed
        raise KeyError(label)

    def by_role(self, role: str) -> tuple[PlacedPartition, ...]:
        """The partitions with a role (boot, rootfs, data), in disk order."""
        return tuple(p for p in self.partitions if p.partition.role == role)

    def sfdisk_script(self) -> str:
        """The table as an sfdisk script (sectors), for `sfdisk IMAGE < script`."""
        lines = [
            "label: gpt",
            f"label-id: {self.disk_id}",
            "unit: sectors",
            f"first-lba: {ALIGN // SECTOR}",
            "",
        ]
        for placed in self.partitions:
            lines.append(
                f"start={placed.start // SECTOR}, size={placed.size // SECTOR}, "
                f"type={placed.type_guid}, uuid={str(placed.partition.uuid).upper()}, "
                f'name="{placed.label}"'
            )
        return "\n".join(lines) + "\n"


def disk_layout(board: Board) -> DiskLayout:
    """Place the board's partitions one after another from the first MiB."""
    placed = []
    offset = ALIGN
    for number, partition in enumerate(board.partitions, start=1):
        size = size_bytes(partition.size)
        placed.append(
            PlacedPartition(number, partition, offset, size, _type_guid(board, partition))
        )
        offset += -(-size // ALIGN) * ALIGN
    disk_id = str(uuid.uuid5(DISK_ID_NAMESPACE, f"chargeos:{board.name}:disk")).upper()
    return DiskLayout(disk_id, tuple(placed), offset + GPT_TAIL)


def _type_guid(board: Board, partition: Partition) -> str:
    if partition.role == "boot":
        return ESP_TYPE
    if partition.role == "rootfs":
        return ROOT_TYPES[board.debian.architecture]
    return LINUX_DATA_TYPE
