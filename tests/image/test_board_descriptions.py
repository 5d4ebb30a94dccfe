"""The image's board descriptions: valid, complete, and refused with a located error when not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import build
from runtime.config.errors import ProfileInvalid
from runtime.config.loader import load_model
from schemas.image import SLOT_LABELS, Board, size_bytes

REPO = Path(__file__).resolve().parents[2]
BOARDS = sorted((REPO / "image" / "boards").glob("*/board.yaml"))
QEMU = REPO / "image" / "boards" / "qemu-x86_64" / "board.yaml"


@pytest.mark.parametrize("path", BOARDS, ids=[p.parent.name for p in BOARDS])
def test_every_board_validates_with_its_files(path: Path) -> None:
    board = load_model(path, Board)
    assert board.name == path.parent.name
    assert build.board_file_problems(board, path) == []
    assert [p.label for p in board.partitions if p.role == "rootfs"] == list(SLOT_LABELS)


def test_validate_board_command_accepts_the_committed_boards() -> None:
    assert build.main(["validate-board", *map(str, BOARDS)]) == 0


def test_partition_uuids_are_fixed_and_unique_across_boards() -> None:
    uuids = [p.uuid for path in BOARDS for p in load_model(path, Board).partitions]
    assert len(set(uuids)) == len(uuids)


def test_qemu_board_fits_two_slots_and_data_in_a_few_gigabytes() -> None:
    board = load_model(QEMU, Board)
    total = sum(size_bytes(p.size) for p in board.partitions)
    assert total < 4 * 1024**3


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = QEMU.read_text(encoding="utf-8")
    assert old in text
    target = tmp_path / "board.yaml"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("label: rootfs-b", "label: rootfs-c", "partitions", "root slots must be rootfs-a"),
        ("filesystem: squashfs", "filesystem: ext4", "partitions.1.filesystem", "read-only"),
        (
            "uuid: 5e0b9a3c-0d6b-4d7a-9c1e-0a1b2c3d4e03",
            "uuid: 5e0b9a3c-0d6b-4d7a-9c1e-0a1b2c3d4e02",
            "partitions.2.uuid",
            "used twice",
        ),
        (
            "size: 1G\n    filesystem: squashfs\n    uuid: 5e0b9a3c-0d6b-4d7a-9c1e-0a1b2c3d4e03",
            "size: 2G\n    filesystem: squashfs\n    uuid: 5e0b9a3c-0d6b-4d7a-9c1e-0a1b2c3d4e03",
            "partitions",
            "same size",
        ),
        ("root=PARTLABEL=@SLOT@ ", "root=/dev/vda2 ", "kernel_cmdline", "PARTLABEL"),
        ("  - overlays/common", "  - ../outside", "overlays.0", "inside image/"),
        ("architecture: amd64", "architecture: mips", "debian.architecture", "amd64"),
        ("size: 64M", "size: 64MB", "partitions.0.size", "pattern"),
        ("bootloader: grub-efi", "boot_loader: grub-efi", "boot_loader", "did you mean"),
        ("simulator: true", "simulator: maybe", "simulator", "boolean"),
        ("simulator: true", "simulater: true", "simulater", "did you mean"),
    ],
)
def test_broken_board_is_refused_with_the_field_and_line(
    tmp_path: Path, old: str, new: str, path: str, message: str
) -> None:
    board = broken(tmp_path, old, new)
    with pytest.raises(ProfileInvalid) as refused:
        load_model(board, Board)
    matching = [e for e in refused.value.errors if e.path == path and message in e.message]
    assert matching, "\n".join(map(str, refused.value.errors))
    assert matching[0].line >= 1


def test_missing_overlay_and_hook_are_named(tmp_path: Path) -> None:
    board = load_model(broken(tmp_path, "overlays/qemu-x86_64", "overlays/nowhere"), Board)
    problems = build.board_file_problems(board, Path("board.yaml"))
    assert problems == ["board.yaml: overlays.1: no directory image/overlays/nowhere"]


def test_trim_hook_removes_documentation_and_reports_the_saving(tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    (target / "usr" / "share" / "doc" / "pkg").mkdir(parents=True)
    (target / "usr" / "share" / "doc" / "pkg" / "README").write_text("x" * 50000)
    (target / "usr" / "share" / "locale" / "nl").mkdir(parents=True)
    (target / "usr" / "share" / "locale" / "C.UTF-8").mkdir(parents=True)
    (target / "etc").mkdir()
    (target / "etc" / "hostname").write_text("kept\n")
    result = subprocess.run(
        [str(REPO / "image" / "hooks" / "post-build-trim.sh")],
        env={**os.environ, "TARGET_DIR": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "trim: saved" in result.stdout
    assert not (target / "usr" / "share" / "doc").exists()
    assert not (target / "usr" / "share" / "locale" / "nl").exists()
    assert (target / "usr" / "share" / "locale" / "C.UTF-8").is_dir()
    assert (target / "etc" / "hostname").read_text() == "kept\n"


def test_hooks_refuse_to_run_without_buildroot_variables() -> None:
    for hook in ("post-build-trim.sh", "post-image-bmap.sh"):
        env = {k: v for k, v in os.environ.items() if k not in ("TARGET_DIR", "BINARIES_DIR")}
        result = subprocess.run(
            [str(REPO / "image" / "hooks" / hook)], env=env, capture_output=True, text=True
        )
        assert result.returncode != 0 and "is not set" in result.stderr
