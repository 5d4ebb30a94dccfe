"""The last root filesystem steps: trim what the board never reads, run the board's post-build
hooks, make the initramfs that finds a squashfs slot, and clear per-machine state so every device
generates its own (machine-id, SSH host keys) and two builds are byte-identical.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from image.builder.context import BuildContext, BuildError
from image.builder.rootfs import VENV

LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m\n"
    "for d in sorted(m.distributions(), key=lambda d: d.metadata['Name'].lower()):\n"
    "    print(d.metadata['Name'], d.version)"
)


def tree_size(root: Path) -> int:
    """Bytes of the regular files under `root` (hard links once)."""
    seen: set[int] = set()
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            stat = Path(directory, name).lstat()
            if stat.st_ino not in seen and not Path(directory, name).is_symlink():
                seen.add(stat.st_ino)
                total += stat.st_size
    return total


def kernel_versions(ctx: BuildContext) -> list[str]:
    """The kernel versions installed in TARGET_DIR."""
    modules = ctx.target_dir / "usr" / "lib" / "modules"
    versions = sorted(p.name for p in modules.iterdir() if p.is_dir()) if modules.exists() else []
    if len(versions) != 1:
        raise BuildError(f"expected one kernel in the root filesystem, found {versions or 'none'}")
    return versions


def trim(ctx: BuildContext) -> None:
    """Kernel modules the board does not keep, then the post-build hooks (docs, locales...)."""
    before = tree_size(ctx.target_dir)
    (version,) = kernel_versions(ctx)
    kernel = ctx.target_dir / "usr" / "lib" / "modules" / version / "kernel"
    keep = tuple(ctx.board.kernel.modules)
    for path in sorted(kernel.rglob("*.ko*")):
        relative = path.relative_to(kernel).as_posix()
        if not any(relative == k or relative.startswith(k.rstrip("/") + "/") for k in keep):
            path.unlink()
    for directory in sorted(kernel.rglob("*"), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    ctx.chroot("depmod", "-a", version)
    modules_after = tree_size(ctx.target_dir)
    for hook in ctx.board.hooks.post_build:
        ctx.run([ctx.image_dir / hook], env=hook_env(ctx))
    after = tree_size(ctx.target_dir)
    ctx.log.figures["trim"] = {
        "before_bytes": before,
        "after_bytes": after,
        "kernel_modules_bytes": before - modules_after,
        "hooks_bytes": modules_after - after,
    }


def hook_env(ctx: BuildContext) -> dict[str, str]:
    """Buildroot's variables for a hook."""
    return ctx.env(
        {
            "TARGET_DIR": str(ctx.target_dir),
            "BINARIES_DIR": str(ctx.binaries_dir),
            "BOARD_DIR": str(ctx.board_dir),
            "BOARD_NAME": ctx.board.name,
            "CHARGEOS_VERSION": ctx.version,
        }
    )


def make_initramfs(ctx: BuildContext) -> None:
    """Debian's initramfs with the board's modules, and stable /boot/vmlinuz, /boot/initrd.img."""
    (version,) = kernel_versions(ctx)
    ctx.chroot("update-initramfs", "-u", "-k", version)
    boot = ctx.target_dir / "boot"
    for name in ("vmlinuz", "initrd.img"):
        if not (boot / f"{name}-{version}").is_file():
            raise BuildError(f"/boot/{name}-{version} is missing from the root filesystem")
        link = boot / name
        link.unlink(missing_ok=True)
        link.symlink_to(f"{name}-{version}")
    ctx.log.figures["kernel"] = version


def finalize(ctx: BuildContext) -> None:
    """Write the package manifest, then clear per-machine state."""
    write_manifest(ctx)
    clear_machine_state(ctx)


def write_manifest(ctx: BuildContext) -> None:
    """packages.txt beside the image: every Debian package and Python distribution, versioned."""
    debian = ctx.chroot("dpkg-query", "--show", "--showformat=${Package} ${Version}\\n")
    python = ctx.chroot(f"{VENV}/bin/python", "-c", LIST_DISTRIBUTIONS)
    manifest = ctx.binaries_dir / "packages.txt"
    manifest.write_text(
        "# Debian packages\n" + "".join(sorted(debian.splitlines(keepends=True)))
        + "# Python distributions (/opt/chargeos/venv)\n" + python
    )  # fmt: skip
    versions = dict(line.split(" ", 1) for line in debian.splitlines() if " " in line)
    ctx.log.figures["versions"] = {
        "python3": versions.get("python3"),
        "systemd": versions.get("systemd"),
        "linux-image": versions.get(f"linux-image-{ctx.board.debian.architecture}"),
        "debian_packages": len(versions),
    }


def clear_machine_state(ctx: BuildContext) -> None:
    """Remove what must be made per device or differs per build run."""
    target = ctx.target_dir
    for pattern in (
        "etc/ssh/ssh_host_*",
        "var/cache/*",
        "var/lib/apt/lists/*",
        "var/log/**/*.log",
        "var/lib/dpkg/*-old",
        "var/lib/systemd/random-seed",
        "tmp/*",
        "var/tmp/*",
        "etc/*-",
        "etc/.pwd.lock",
    ):
        for path in target.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    # An empty machine-id: systemd makes one at boot (and keeps the read-only root untouched).
    (target / "etc" / "machine-id").write_text("")
    dbus_id = target / "var" / "lib" / "dbus" / "machine-id"
    dbus_id.unlink(missing_ok=True)
