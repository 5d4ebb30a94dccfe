"""Build steps that turn TARGET_DIR into images: the read-only slot image (squashfs), the boot
partition (GRUB, its A/B configuration and environment), the data partition, and the GPT disk
image that holds them, written without loop devices or mounts.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from image.builder.context import BuildContext, BuildError
from image.builder.grubcfg import GRUB_MODULES, grub_cfg
from image.builder.layout import ALIGN, DISK_ID_NAMESPACE, disk_layout
from runtime.boot import grubenv
from runtime.boot.scheme import GRUB_DIR, initial_environment

SQUASHFS = "rootfs.squashfs"


def image_path(ctx: BuildContext) -> Path:
    """out/<board>/<image_name>-<version>.img"""
    return ctx.binaries_dir / f"{ctx.board.image_name}-{ctx.version}.img"


def make_squashfs(ctx: BuildContext) -> None:
    """The root slot image, gzip-compressed (GRUB 2.06 reads the kernel from it: gzip, lzo or
    xz); mksquashfs takes every time from SOURCE_DATE_EPOCH in the environment, which makes it
    reproducible."""
    output = ctx.binaries_dir / SQUASHFS
    output.unlink(missing_ok=True)
    ctx.run(
        [
            "mksquashfs",
            ctx.target_dir,
            output,
            "-noappend",
            "-no-progress",
            # gzip, not xz: every file a service reads at boot is decompressed by the guest's
            # CPU. Under TCG (2026-12-04, later boots to evse green) xz took 38-50 s, gzip
            # 29-41 s, lzo 31 s; for 93.3, 113.8 and 124.6 MiB of payload.
            "-comp",
            "gzip",
            "-b",
            # 128 KiB blocks: every .pyc read decompresses a whole block; 1 MiB blocks made the
            # first boot 79 s instead of 68 s under TCG for 9 % less payload.
            "128K",
            "-no-exports",
            "-no-xattrs",
        ]
    )
    slot = disk_layout(ctx.board).by_role("rootfs")[0]
    size = output.stat().st_size
    if size > slot.size:
        raise BuildError(
            f"{SQUASHFS} is {size / 2**20:.0f} MiB; slot {slot.label} holds {slot.size / 2**20:.0f}"
        )
    ctx.log.figures["squashfs_bytes"] = size


def make_boot_partition(ctx: BuildContext) -> Path:
    """A FAT ESP with a standalone GRUB, its A/B grub.cfg and a fresh grubenv."""
    layout = disk_layout(ctx.board)
    (boot,) = layout.by_role("boot")
    staging, partition = _fresh(ctx, "boot", "boot.vfat")
    efi = staging / "BOOTX64.EFI"
    ctx.run(["grub-mkimage", "-O", "x86_64-efi", "-o", efi, "-p", GRUB_DIR, *GRUB_MODULES])
    (staging / "grub.cfg").write_text(grub_cfg(layout, ctx.board.kernel_cmdline))
    grubenv.create(staging / "grubenv", initial_environment())
    volume_id = _fixed_uuid(ctx, "boot").hex[:8]
    ctx.run(
        [
            "mkfs.vfat",
            "--invariant",
            "-i",
            volume_id,
            "-n",
            "BOOT",
            "-C",
            partition,
            str(boot.size // 1024),
        ]
    )
    image = f"{partition}"
    ctx.run(["mmd", "-i", image, "::/EFI", f"::{GRUB_DIR}"])
    for name in ("BOOTX64.EFI", "grub.cfg", "grubenv"):
        ctx.run(["mcopy", "-i", image, "-m", staging / name, f"::{GRUB_DIR}/{name}"])
    return partition


def make_data_partition(ctx: BuildContext) -> Path:
    """An empty ext4 data partition (first boot fills it), owned as the board's table says."""
    (data,) = disk_layout(ctx.board).by_role("data")
    staging, partition = _fresh(ctx, "data", "data.ext4")
    owner = _data_owner(ctx)
    fs_uuid = str(_fixed_uuid(ctx, "data"))
    ctx.run(
        [
            "mke2fs",
            "-q",
            "-t",
            "ext4",
            "-L",
            data.label,
            "-U",
            fs_uuid,
            "-E",
            f"root_owner={owner},hash_seed={fs_uuid}",
            "-d",
            staging,
            partition,
            f"{data.size // 1024}k",
        ],
        env=ctx.env({"E2FSPROGS_FAKE_TIME": str(ctx.source_date_epoch)}),
    )
    return partition


def assemble_disk(ctx: BuildContext, boot: Path, data: Path) -> Path:
    """The GPT disk image: boot, slot A with the system, slot B empty, data."""
    layout = disk_layout(ctx.board)
    image = image_path(ctx)
    image.unlink(missing_ok=True)
    with image.open("wb") as file:
        file.truncate(layout.size)
    ctx.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "--quiet", image],
        stdin=layout.sfdisk_script().encode(),
    )
    slot_a = layout.by_role("rootfs")[0]
    contents = {
        layout.by_role("boot")[0].label: boot,
        slot_a.label: ctx.binaries_dir / SQUASHFS,
        layout.by_role("data")[0].label: data,
    }
    for label, source in contents.items():
        placed = layout.by_label(label)
        if source.stat().st_size > placed.size:
            raise BuildError(f"{source.name} does not fit partition {label}")
        ctx.run(
            [
                "dd",
                f"if={source}",
                f"of={image}",
                "bs=1M",
                f"seek={placed.start // ALIGN}",
                "conv=notrunc,sparse",
                "status=none",
            ]
        )
    ctx.log.figures["image_bytes"] = layout.size
    ctx.log.figures["image_allocated_bytes"] = image.stat().st_blocks * 512
    return image


def _fresh(ctx: BuildContext, staging_name: str, partition_name: str) -> tuple[Path, Path]:
    """An empty staging folder and no partition file yet, in the work folder."""
    staging = ctx.work_dir / staging_name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    partition = ctx.work_dir / partition_name
    partition.unlink(missing_ok=True)
    return staging, partition


def _fixed_uuid(ctx: BuildContext, what: str) -> uuid.UUID:
    return uuid.uuid5(DISK_ID_NAMESPACE, f"chargeos:{ctx.board.name}:{what}")


def _data_owner(ctx: BuildContext) -> str:
    """uid:gid of the data partition's root, from the permission entry for /data."""
    for permission in ctx.board.permissions:
        if permission.path == "/data":
            users = {u.name: u.uid for u in ctx.board.users}
            uid = users.get(permission.owner, 0)
            gid = users.get(permission.group, 0)
            return f"{uid}:{gid}"
    return "0:0"
