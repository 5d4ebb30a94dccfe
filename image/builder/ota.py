"""The OTA update zip of a build: `rootfs.squashfs` as the payload, a manifest naming the board's
compatible string, version and version floor, signed with every signing key in the keys folder
(several keys let a new key be rolled out while devices still trust the old one).
"""

from __future__ import annotations

from pathlib import Path

from image.builder.context import BuildContext, BuildError
from image.builder.disk import SQUASHFS
from image.builder.signing import load_signing_key, signing_key_paths
from image.builder.update_zip import write_update_zip


def update_zip_path(ctx: BuildContext) -> Path:
    """out/<board>/<image_name>-<version>-update.zip"""
    return ctx.binaries_dir / f"{ctx.board.image_name}-{ctx.version}-update.zip"


def make_update_zip(ctx: BuildContext) -> Path:
    """Sign and write the update zip of this build."""
    if ctx.keys_dir is None or not signing_key_paths(ctx.keys_dir):
        raise BuildError(f"no signing key (signing-*.pem) in {ctx.keys_dir}: run build.py keys")
    keys = [load_signing_key(path) for path in signing_key_paths(ctx.keys_dir)]
    output = update_zip_path(ctx)
    for stale in ctx.binaries_dir.glob("*-update.zip"):
        stale.unlink()
    manifest = write_update_zip(
        output,
        {
            "compatible": ctx.board.compatible,
            "version": ctx.version,
            "min_version": ctx.min_version or ctx.version,
            "build": {
                "board": ctx.board.name,
                "source_date_epoch": ctx.source_date_epoch,
                "kernel": ctx.log.figures.get("kernel"),
            },
        },
        {"rootfs": ctx.binaries_dir / SQUASHFS},
        keys,
    )
    ctx.log.figures["update_zip"] = {"file": output.name, "signed_by": len(keys),
                                     "payload_sha256": manifest.payloads[0].sha256}  # fmt: skip
    return output
