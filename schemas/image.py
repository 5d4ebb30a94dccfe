"""The declarative description of a board's image (`image/boards/<board>/board.yaml`).

Buildroot's board directory as data: what the root filesystem holds (Debian suite and
packages, ordered overlays, users, permissions), the hooks that run with Buildroot's
variables (TARGET_DIR, BINARIES_DIR, BOARD_DIR), the kernel command line and the partition
table with fixed labels and UUIDs, so an A/B update always finds its slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from runtime.boot import scheme
from schemas.base import ProfileModel, Violation, cross_field_rule

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


def _inside_image_dir(path: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a path inside image/ (no leading /, no ..)")
    return path


RelativePath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]+$"), AfterValidator(_inside_image_dir)
]
TargetPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/-]*$")]
Size = Annotated[str, StringConstraints(pattern=r"^[0-9]+(K|M|G)$")]
SLOT_LABELS = tuple(scheme.SLOT_LABELS.values())  # what the device's updater looks for


def size_bytes(size: str) -> int:
    """'512M' as bytes."""
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3}[size[-1]]
    return int(size[:-1]) * factor


class Debian(ProfileModel):
    """The base root filesystem from Debian packages (mmdebstrap)."""

    suite: Literal["bookworm", "trixie"] = Field("bookworm", description="Debian suite")
    architecture: Literal["amd64", "arm64", "armhf"] = Field(description="Debian architecture")
    variant: Literal["minbase", "essential"] = Field("minbase", description="mmdebstrap variant")
    packages: tuple[Name, ...] = Field(min_length=1, description="Debian packages of the image")


class User(ProfileModel):
    """A system user of the image."""

    name: Name
    uid: int = Field(ge=100, le=65000)
    groups: tuple[Name, ...] = ()
    home: TargetPath = "/nonexistent"
    shell: TargetPath = "/usr/sbin/nologin"


class Permission(ProfileModel):
    """Owner and mode of a path in the image (Buildroot's permission table)."""

    path: TargetPath
    owner: Name = "root"
    group: Name = "root"
    mode: Annotated[str, StringConstraints(pattern=r"^0[0-7]{3,4}$")]
    recursive: bool = Field(False, description="Owner and group also for everything below")


class Hooks(ProfileModel):
    """Scripts run with TARGET_DIR, BINARIES_DIR and BOARD_DIR set, paths relative to image/."""

    post_build: tuple[RelativePath, ...] = ()
    post_image: tuple[RelativePath, ...] = ()


class Partition(ProfileModel):
    """One GPT partition."""

    label: Name
    role: Literal["boot", "rootfs", "data"]
    size: Size
    filesystem: Literal["vfat", "squashfs", "ext4"]
    uuid: UUID = Field(description="Fixed partition UUID (the same on every device)")


ProfileValue = str | int | float | bool


class Kernel(ProfileModel):
    """What of the Debian kernel the board keeps."""

    modules: tuple[RelativePath, ...] = Field(
        min_length=1,
        description="Module directories or files (under lib/modules/<version>/kernel) to keep; "
        "the rest is trimmed",
    )
    initramfs_modules: tuple[Name, ...] = Field(
        min_length=1, description="Modules the initramfs loads to find the root slot"
    )


class Board(ProfileModel):
    """A board the image can be built for."""

    name: Name
    description: str = Field(min_length=1, max_length=120)
    compatible: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.,_-]+$")] = Field(
        description="What an update zip must name to install here"
    )
    image_name: Name
    buildable_here: Literal["image", "rootfs"] = Field(
        description="How far this machine can build it (an ARM board: its root filesystem)"
    )
    simulator: bool = Field(
        description="Ships the charger-hardware simulator (runtime.sim) and runs it as the `sim` "
        "program: only for a board without charger hardware, such as a virtual machine"
    )
    debian: Debian
    overlays: tuple[RelativePath, ...] = Field(
        min_length=1, description="Root filesystem overlays, applied in order (common first)"
    )
    users: tuple[User, ...] = ()
    permissions: tuple[Permission, ...] = ()
    hooks: Hooks = Field(default_factory=Hooks)
    kernel: Kernel
    kernel_cmdline: str = Field(min_length=1, max_length=1024)
    bootloader: Literal["grub-efi", "u-boot"]
    partitions: tuple[Partition, ...] = Field(min_length=4, max_length=8)
    profile_overrides: dict[str, ProfileValue] = Field(
        default_factory=dict,
        description="Profile values this board needs whatever the profile says (dotted path: "
        "value), e.g. the configurator listening beyond loopback on a real network",
    )

    @cross_field_rule
    def ab_slots_and_data_partition(self) -> Iterator[Violation]:
        roles = [p.role for p in self.partitions]
        if roles.count("boot") != 1:
            yield Violation(("partitions",), "exactly one boot partition is needed")
        if tuple(p.label for p in self.partitions if p.role == "rootfs") != SLOT_LABELS:
            yield Violation(
                ("partitions",), f"the root slots must be {' and '.join(SLOT_LABELS)}, in order"
            )
        if roles.count("data") != 1:
            yield Violation(("partitions",), "exactly one data partition is needed")

    @cross_field_rule
    def root_slots_are_alike(self) -> Iterator[Violation]:
        slots = [p for p in self.partitions if p.role == "rootfs"]
        if len({(p.size, p.filesystem) for p in slots}) > 1:
            yield Violation(("partitions",), "both root slots need the same size and filesystem")

    @cross_field_rule
    def labels_and_uuids_are_unique(self) -> Iterator[Violation]:
        for index, partition in enumerate(self.partitions):
            earlier = self.partitions[:index]
            if partition.label in {p.label for p in earlier}:
                yield Violation(("partitions", index, "label"), f"{partition.label} twice")
            if partition.uuid in {p.uuid for p in earlier}:
                yield Violation(("partitions", index, "uuid"), "this UUID is used twice")

    @cross_field_rule
    def boot_partition_matches_the_bootloader(self) -> Iterator[Violation]:
        for index, partition in enumerate(self.partitions):
            if partition.role == "boot" and partition.filesystem != "vfat":
                yield Violation(("partitions", index, "filesystem"), "the boot partition is vfat")
            if partition.role == "rootfs" and partition.filesystem != "squashfs":
                yield Violation(
                    ("partitions", index, "filesystem"), "root slots are read-only squashfs"
                )

    @cross_field_rule
    def kernel_finds_its_slot_by_label(self) -> Iterator[Violation]:
        if "root=PARTLABEL=" not in self.kernel_cmdline and "@SLOT@" not in self.kernel_cmdline:
            yield Violation(
                ("kernel_cmdline",), "the command line names the slot (root=PARTLABEL=@SLOT@)"
            )
