"""The disk layout, GRUB's A/B script and its environment block, checked without building."""

from __future__ import annotations

from pathlib import Path

import pytest

from image.builder.grubcfg import grub_cfg, slot_labels
from image.builder.layout import ALIGN, ESP_TYPE, ROOT_TYPES, disk_layout
from runtime.boot import grubenv
from runtime.boot.scheme import MAX_TRIES, initial_environment
from runtime.config.loader import load_model
from schemas.image import Board, size_bytes

REPO = Path(__file__).resolve().parents[2]
QEMU = load_model(REPO / "image" / "boards" / "qemu-x86_64" / "board.yaml", Board)


def test_partitions_follow_each_other_from_the_first_mib_in_board_order() -> None:
    layout = disk_layout(QEMU)
    assert [p.label for p in layout.partitions] == [p.label for p in QEMU.partitions]
    assert [p.number for p in layout.partitions] == [1, 2, 3, 4]
    assert layout.partitions[0].start == ALIGN
    for before, after in zip(layout.partitions, layout.partitions[1:], strict=False):
        assert after.start == before.start + before.size
        assert after.start % ALIGN == 0
    last = layout.partitions[-1]
    assert layout.size >= last.start + last.size + 33 * 512  # room for the backup GPT


def test_partition_types_sizes_and_uuids_come_from_the_description() -> None:
    layout = disk_layout(QEMU)
    assert layout.by_label("boot").type_guid == ESP_TYPE
    assert layout.by_label("rootfs-a").type_guid == ROOT_TYPES["amd64"]
    for placed, described in zip(layout.partitions, QEMU.partitions, strict=True):
        assert placed.size == size_bytes(described.size)
        assert placed.partition.uuid == described.uuid
    script = layout.sfdisk_script()
    for described in QEMU.partitions:
        assert f'name="{described.label}"' in script
        assert str(described.uuid).upper() in script
    assert f"label-id: {layout.disk_id}" in script


def test_the_disk_id_is_the_same_on_every_build() -> None:
    assert disk_layout(QEMU).disk_id == disk_layout(QEMU).disk_id


def test_grub_boots_each_slot_by_partition_number_with_its_label_on_the_command_line() -> None:
    layout = disk_layout(QEMU)
    config = grub_cfg(layout, QEMU.kernel_cmdline)
    assert slot_labels(layout) == {"A": "rootfs-a", "B": "rootfs-b"}
    assert "linux ($bootdisk,gpt2)/boot/vmlinuz" in config
    assert "root=PARTLABEL=rootfs-a" in config and "chargeos.slot=A" in config
    assert "linux ($bootdisk,gpt3)/boot/vmlinuz" in config
    assert "root=PARTLABEL=rootfs-b" in config and "chargeos.slot=B" in config
    assert "@SLOT@" not in config


def test_grub_counts_a_try_before_booting_and_never_past_the_limit() -> None:
    config = grub_cfg(disk_layout(QEMU), QEMU.kernel_cmdline)
    for slot in ("A", "B"):
        for tries in range(MAX_TRIES):
            assert f"set {slot}_TRY={tries + 1}; set slot={slot}" in config
        assert f'"${slot}_TRY" = "{MAX_TRIES}"' not in config  # a slot at the limit is passed over
    assert "save_env --file $envfile A_TRY B_TRY" in config


def test_a_new_disk_boots_slot_a_and_has_no_system_in_slot_b() -> None:
    assert initial_environment() == {
        "ORDER": "A B",
        "A_OK": "1",
        "A_TRY": "0",
        "B_OK": "0",
        "B_TRY": "0",
    }


def test_grubenv_is_one_kibibyte_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    grubenv.create(path, initial_environment())
    assert path.stat().st_size == grubenv.BLOCK_SIZE
    assert path.read_bytes().startswith(b"# GRUB Environment Block\n")
    assert grubenv.read(path) == initial_environment()


def test_grubenv_update_rewrites_the_same_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    grubenv.create(path, initial_environment())
    inode = path.stat().st_ino
    assert grubenv.update(path, {"A_TRY": "0", "B_OK": "1"})["B_OK"] == "1"
    assert path.stat().st_ino == inode
    assert path.stat().st_size == grubenv.BLOCK_SIZE
    assert grubenv.read(path)["B_OK"] == "1"


def test_grubenv_refuses_a_damaged_block_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    path.write_bytes(b"# GRUB Environment Block\nA_OK=1\n")
    with pytest.raises(grubenv.GrubEnvError, match=str(path)):
        grubenv.read(path)


def test_grubenv_refuses_values_that_would_not_fit_or_break_the_format() -> None:
    with pytest.raises(grubenv.GrubEnvError, match="do not fit"):
        grubenv.render({"X": "y" * 1100})
    with pytest.raises(grubenv.GrubEnvError, match="cannot be stored"):
        grubenv.render({"X": "two\nlines"})
