"""`build.py image`: the build as an ordered list of steps, with a progress display on the
terminal, every command and its output in `build.log`, and `build-info.json` at the end
(versions, input hashes, sizes, trimming, step times).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from image.builder import disk, finish, ota, rootfs, wheels
from image.builder.context import BuildContext, BuildError, sha256_file, sha256_tree
from image.builder.layout import disk_layout


@dataclass(frozen=True)
class Step:
    """One build step: a short name for the display and what it does."""

    name: str
    what: str
    run: Callable[[BuildContext], object]


def _partitions(ctx: BuildContext) -> None:
    boot = disk.make_boot_partition(ctx)
    data = disk.make_data_partition(ctx)
    disk.assemble_disk(ctx, boot, data)


def _post_image(ctx: BuildContext) -> None:
    for hook in ctx.board.hooks.post_image:
        ctx.run([ctx.image_dir / hook], env=finish.hook_env(ctx))


ROOTFS_STEPS = (
    Step("base", "Debian base root filesystem (mmdebstrap, cached)", rootfs.make_base),
    Step("wheels", "locked wheels and the ChargeOS wheel", wheels.make_wheels),
    Step("unpack", "fresh TARGET_DIR from the base", rootfs.unpack_base),
    Step("app", "ChargeOS venv under /opt", rootfs.install_app),
    Step("overlays", "root filesystem overlays", rootfs.apply_overlays),
    Step("generate", "supervisord programs, factory profile, users", rootfs.write_generated_files),
    Step("permissions", "permission table and systemd units", rootfs.apply_permissions),
    Step("trim", "kernel modules and post-build hooks", finish.trim),
    Step("initramfs", "initramfs that finds the squashfs slot", finish.make_initramfs),
    Step("clean", "package manifest, per-machine state removed", finish.finalize),
    Step("squashfs", "read-only slot image rootfs.squashfs", disk.make_squashfs),
)
IMAGE_STEPS = (
    Step("disk", "GPT disk: boot (GRUB A/B), slot A, slot B, data", _partitions),
    Step("post-image", "post-image hooks (bmap)", _post_image),
)
UPDATE_STEPS = (Step("ota", "signed OTA update zip", ota.make_update_zip),)


def steps_for(ctx: BuildContext) -> tuple[Step, ...]:
    """All steps, or only the root filesystem's where the board cannot be imaged here."""
    disk_steps = IMAGE_STEPS if ctx.board.buildable_here == "image" else ()
    return ROOTFS_STEPS + disk_steps + UPDATE_STEPS


def build_image(ctx: BuildContext, display: TextIO = sys.stdout) -> Path:
    """Run every step; write build-info.json; return its path. Raises BuildError."""
    steps = steps_for(ctx)
    timings: dict[str, float] = {}
    started = time.monotonic()
    for number, step in enumerate(steps, start=1):
        ctx.log.write(f"\n=== step {number}/{len(steps)}: {step.name}: {step.what}")
        with _progress(display, f"[{number:2}/{len(steps)}] {step.name:<11} {step.what}") as done:
            step_started = time.monotonic()
            try:
                step.run(ctx)
            except BuildError as error:
                done("FAILED")
                raise BuildError(f"step {step.name}: {error}") from None
            timings[step.name] = round(time.monotonic() - step_started, 2)
            done(f"{timings[step.name]:.1f} s")
    info_path = ctx.binaries_dir / "build-info.json"
    info = build_info(ctx, timings, round(time.monotonic() - started, 2))
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info_path


def build_info(ctx: BuildContext, timings: dict[str, float], total_s: float) -> dict[str, object]:
    """What was built from what: versions, input hashes, sizes and times."""
    figures = ctx.log.figures
    outputs = {
        path.name: {"bytes": path.stat().st_size, "allocated_bytes": path.stat().st_blocks * 512}
        for path in sorted(ctx.binaries_dir.glob("*"))
        if path.is_file() and path.suffix in (".img", ".squashfs", ".bmap", ".zip")
    }
    outputs_hashes = {
        name: sha256_file(ctx.binaries_dir / name) for name in outputs if name.endswith(".squashfs")
    }
    return {
        "name": "ChargeOS",
        "version": ctx.version,
        "board": ctx.board.name,
        "compatible": ctx.board.compatible,
        "kernel": figures.get("kernel"),
        "versions": figures.get("versions"),
        "min_version": ctx.min_version or ctx.version,
        "keyring": figures.get("keyring"),
        "update_zip": figures.get("update_zip"),
        "source_date_epoch": ctx.source_date_epoch,
        "inputs": {
            "board_yaml_sha256": sha256_file(ctx.board_dir / "board.yaml"),
            "overlays_sha256": {o: sha256_tree(ctx.image_dir / o) for o in ctx.board.overlays},
            "profile": str(ctx.profile),
            "profile_sha256": sha256_file(ctx.profile),
            "requirements_lock_sha256": sha256_file(ctx.repo / "requirements.lock"),
            "app_wheel_sha256": sha256_file(Path(str(figures["app_wheel"]))),
            "base_cache_key": figures.get("base_cache_key"),
            "base_tar_sha256": figures.get("base_sha256"),
            "debian": ctx.board.debian.model_dump(mode="json"),
        },
        "outputs": outputs,
        "sha256": outputs_hashes,
        "partitions": [
            {
                "number": p.number,
                "label": p.label,
                "start": p.start,
                "bytes": p.size,
                "uuid": str(p.partition.uuid),
            }
            for p in disk_layout(ctx.board).partitions
        ],
        "webui": figures.get("webui"),
        "trim": figures.get("trim"),
        "base_cached": figures.get("base_cached"),
        "step_seconds": timings,
        "total_seconds": total_s,
    }


@contextmanager
def _progress(display: TextIO, label: str) -> Iterator[Callable[[str], None]]:
    """Show a step with a live elapsed time on a terminal; one plain line otherwise."""
    interactive = display.isatty()
    started = time.monotonic()
    stop = threading.Event()
    result: list[str] = []

    def tick() -> None:
        while not stop.wait(0.5):
            display.write(f"\r{label} … {time.monotonic() - started:5.0f} s")
            display.flush()

    ticker = threading.Thread(target=tick, daemon=True) if interactive else None
    if ticker:
        ticker.start()
    try:
        yield result.append
    finally:
        stop.set()
        if ticker:
            ticker.join()
        outcome = result[-1] if result else "stopped"
        display.write(f"{chr(13) if interactive else ''}{label} … {outcome}\n")
        display.flush()
