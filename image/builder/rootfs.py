"""Build steps that assemble the root filesystem in TARGET_DIR, Buildroot-style.

Debian's packages make the base (mmdebstrap, cached by a hash of what goes in), ChargeOS and its
locked wheels go into a venv under /opt, the overlays are copied in order, then the generated
files (supervisord programs, factory profile, users, initramfs) and the trimming follow. Every
step is deterministic given its inputs and SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from image.builder.context import BuildContext, BuildError, sha256_file
from runtime.boot.scheme import ESP_MOUNT
from runtime.config.loader import parse_profile
from runtime.config.yaml_edit import assign
from runtime.config.yaml_io import dump_document, load_document
from runtime.programs import SupervisorLayout, programs_for, supervisord_conf

APP_DIR = "/opt/chargeos"
VENV = f"{APP_DIR}/venv"
FACTORY_PROFILE = f"{APP_DIR}/factory/profile.yaml"
DATA_DIR = "/data"
SERVICES_USER = "chargeos"  # the board's users table declares it; /data belongs to it
SYSTEM_INFO = "/etc/chargeos/system.json"
KEYRING = "/etc/chargeos/keyring"
MIRROR = "http://deb.debian.org/debian"
UNITS_ENABLED = (
    "chargeos-provision.service",
    "chargeos-privileged.socket",
    "chargeos.service",
    "chargeos-health.service",
    "chargeos-trial-deadline.service",
)
# Debian units a read-only appliance does not run: package timers, Debian's ssh (debug SSH is
# chargeos-debug-ssh.service, never enabled, started from the Admin page only), waiting for the
# network before multi-user, foreign binary formats, a login prompt on a screen a wallbox does
# not have, and a dpkg database nobody changes.
UNITS_MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "ssh.service",
    "ssh.socket",
    "NetworkManager-wait-online.service",
    "fstrim.timer",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "getty@tty1.service",
    "modprobe@drm.service",
)


def base_cache_key(ctx: BuildContext) -> str:
    """What determines the base root filesystem: suite, architecture, variant, packages."""
    debian = ctx.board.debian
    inputs = {
        "suite": debian.suite,
        "architecture": debian.architecture,
        "variant": debian.variant,
        "packages": sorted(debian.packages),
        "mirror": MIRROR,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def make_base(ctx: BuildContext) -> None:
    """The Debian base as a tar in the cache (mmdebstrap), unless the cache has it."""
    key = base_cache_key(ctx)
    tar = ctx.cache_dir / f"base-{ctx.board.debian.suite}-{ctx.board.debian.architecture}-{key}.tar"
    ctx.log.figures["base_cache_key"] = key
    if tar.exists():
        ctx.log.figures["base_cached"] = True
    else:
        ctx.log.figures["base_cached"] = False
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = tar.with_suffix(".partial")
        debian = ctx.board.debian
        ctx.run(
            [
                "mmdebstrap",
                f"--variant={debian.variant}",
                f"--architectures={debian.architecture}",
                "--mode=root",
                "--format=tar",
                f"--include={','.join(debian.packages)}",
                debian.suite,
                partial,
                MIRROR,
            ]
        )
        partial.rename(tar)
    ctx.log.figures["base_tar"] = str(tar)
    ctx.log.figures["base_sha256"] = sha256_file(tar)


def unpack_base(ctx: BuildContext) -> None:
    """A fresh TARGET_DIR from the base tar."""
    shutil.rmtree(ctx.target_dir, ignore_errors=True)
    ctx.target_dir.mkdir(parents=True)
    ctx.run(
        ["tar", "--numeric-owner", "-xpf", str(ctx.log.figures["base_tar"]), "-C", ctx.target_dir]
    )


def install_app(ctx: BuildContext) -> None:
    """ChargeOS and its locked wheels in a venv under /opt, with hash-based bytecode."""
    staging = ctx.target_dir / "tmp" / "chargeos-build"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for wheel in Path(str(ctx.log.figures["wheels_dir"])).glob("*.whl"):
        shutil.copy2(wheel, staging)
    app_wheel = Path(str(ctx.log.figures["app_wheel"]))
    shutil.copy2(app_wheel, staging)
    shutil.copy2(ctx.repo / "requirements.lock", staging)
    inside = "/tmp/chargeos-build"
    pip = f"{VENV}/bin/pip"
    ctx.chroot("/usr/bin/python3", "-m", "venv", VENV)
    ctx.chroot(
        pip,
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        inside,
        "--no-compile",
        "--require-hashes",
        "-r",
        f"{inside}/requirements.lock",
    )
    ctx.chroot(
        pip,
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--no-compile",
        f"{inside}/{app_wheel.name}",
    )
    ctx.chroot(pip, "uninstall", "--quiet", "--yes", "pip", "setuptools")
    shutil.rmtree(staging)
    # unchecked-hash: bytecode that does not depend on file times (read-only root, reproducible).
    # Debian's own standard library bytecode is checked-hash: every import would read and hash
    # the source as well, a second squashfs read per module at each start of every service.
    stdlib = sorted(
        f"/{path.relative_to(ctx.target_dir)}"
        for path in (ctx.target_dir / "usr/lib").glob("python3.*")
    )
    ctx.chroot(
        f"{VENV}/bin/python",
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        f"{VENV}/lib",
        *stdlib,
    )


def apply_overlays(ctx: BuildContext) -> None:
    """Copy the board's overlays into TARGET_DIR in order; later files win."""
    for overlay in ctx.board.overlays:
        ctx.run(
            ["cp", "-a", "--no-preserve=ownership", f"{ctx.image_dir / overlay}/.", ctx.target_dir]
        )


def write_generated_files(ctx: BuildContext) -> None:
    """The files made from the profile, the program table and the board."""
    target = ctx.target_dir
    for mount_point in (DATA_DIR, ESP_MOUNT):
        (target / mount_point.lstrip("/")).mkdir(parents=True, exist_ok=True)
    factory = target / FACTORY_PROFILE.lstrip("/")
    factory.parent.mkdir(parents=True, exist_ok=True)
    factory.write_text(factory_profile_text(ctx), encoding="utf-8")
    profile = parse_profile(factory.read_text(encoding="utf-8"), str(ctx.profile)).profile
    ctx.log.figures["webui"] = {
        "https_port": profile.webui.https_port,
        "http_port": profile.webui.http_port,
    }
    layout = SupervisorLayout(
        data_dir=Path(DATA_DIR),
        python=f"{VENV}/bin/python",
        working_dir=Path(DATA_DIR),
        factory_profile=Path(FACTORY_PROFILE),
        user=SERVICES_USER,  # as chargeos.service's User=: the same user, never root
    )
    conf = target / "etc" / "chargeos" / "supervisord.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(supervisord_conf(layout, programs_for(profile.hardware.simulated)))
    info = {
        "name": "ChargeOS",
        "version": ctx.version,
        "min_version": ctx.min_version or ctx.version,
        "board": ctx.board.name,
        "compatible": ctx.board.compatible,
        "source_date_epoch": ctx.source_date_epoch,
    }
    (target / SYSTEM_INFO.lstrip("/")).write_text(json.dumps(info, indent=2) + "\n")
    _write_keyring(ctx)
    initramfs = target / "etc" / "initramfs-tools"
    (initramfs / "modules").write_text("\n".join(ctx.board.kernel.initramfs_modules) + "\n")
    _write_users(ctx)


def _write_keyring(ctx: BuildContext) -> None:
    """The public keys an update must be signed with (never a private key)."""
    keyring = ctx.target_dir / KEYRING.lstrip("/")
    keyring.mkdir(parents=True, exist_ok=True)
    public_keys = sorted(ctx.keys_dir.glob("*.pub")) if ctx.keys_dir else []
    if not public_keys:
        raise BuildError(
            f"no public keys (*.pub) in {ctx.keys_dir}: run `python build.py keys` first"
        )
    for public_key in public_keys:
        shutil.copyfile(public_key, keyring / public_key.name)
    ctx.log.figures["keyring"] = [key.stem for key in public_keys]


def factory_profile_text(ctx: BuildContext) -> str:
    """The profile the image is built with, with the board's overrides; must validate and run
    on the board (simulated hardware only where the board ships the simulator)."""
    text = ctx.profile.read_text(encoding="utf-8")
    if ctx.board.profile_overrides:
        document = load_document(text)
        for path, value in ctx.board.profile_overrides.items():
            assign(document, path, value)
        text = dump_document(document)
    loaded = parse_profile(text, f"{ctx.profile} (with the overrides of board {ctx.board.name})")
    if loaded.profile.hardware.simulated and not ctx.board.simulator:
        raise BuildError(
            f"{ctx.profile}: hardware.simulated is true, but board {ctx.board.name} ships no "
            "simulator (simulator: false in its board.yaml): use a profile for its hardware"
        )
    return text


def _write_users(ctx: BuildContext) -> None:
    """Users and their groups, written straight into the account files (no host clock)."""
    etc = ctx.target_dir / "etc"
    days = ctx.source_date_epoch // 86400
    groups = _read_table(etc / "group")
    for user in ctx.board.users:
        for group in (user.name, *user.groups):
            if group not in groups:
                gid = user.uid if group == user.name else _free_gid(groups)
                groups[group] = [group, "x", str(gid), ""]
                _append(etc / "gshadow", f"{group}:!::")
        for group in user.groups:
            members = [m for m in groups[group][3].split(",") if m]
            groups[group][3] = ",".join([*members, user.name])
        passwd = _read_table(etc / "passwd")
        if user.name in passwd:
            raise BuildError(f"board {ctx.board.name}: user {user.name} exists in the base")
        _append(
            etc / "passwd",
            f"{user.name}:x:{user.uid}:{groups[user.name][2]}::{user.home}:{user.shell}",
        )
        _append(etc / "shadow", f"{user.name}:!:{days}::::::")
    (etc / "group").write_text("".join(":".join(row) + "\n" for row in groups.values()))


def _read_table(path: Path) -> dict[str, list[str]]:
    rows = [line.split(":") for line in path.read_text().splitlines() if line]
    return {row[0]: row for row in rows}


def _free_gid(groups: dict[str, list[str]]) -> int:
    used = {int(row[2]) for row in groups.values()}
    return next(gid for gid in range(999, 100, -1) if gid not in used)


def _append(path: Path, line: str) -> None:
    with path.open("a") as file:
        file.write(line + "\n")


def apply_permissions(ctx: BuildContext) -> None:
    """The board's permission table, then systemd units enabled and masked."""
    for permission in ctx.board.permissions:
        path = ctx.target_dir / permission.path.lstrip("/")
        if not path.exists():
            raise BuildError(f"permissions: {permission.path} is not in the root filesystem")
        owner = f"{permission.owner}:{permission.group}"
        recursive = ["-R"] if permission.recursive else []
        ctx.chroot("chown", *recursive, owner, permission.path)
        ctx.chroot("chmod", permission.mode, permission.path)
    ctx.chroot("systemctl", "enable", *UNITS_ENABLED)
    ctx.chroot("systemctl", "mask", *UNITS_MASKED)
