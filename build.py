#!/usr/bin/env python3
"""ChargeOS build entry point: validate profiles and boards, build and boot the image.

`python build.py validate PROFILE...` checks profiles and prints every error as
`FILE:LINE:COL: dotted.path: message`; `python build.py schema` regenerates
`schemas/profile.schema.json` for editors; `python build.py image --board B --profile P` builds
`out/B/` (root filesystem, disk image, bmap, build-info.json); `python build.py run --board B`
boots that image in qemu with the web configurator on https://127.0.0.1:8443.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from image.builder import qemu
from image.builder.context import BuildContext, BuildError, BuildLog
from image.builder.ota import make_update_zip
from image.builder.pipeline import build_image
from image.builder.signing import create_signing_key, default_keys_dir, signing_key_paths
from runtime.config.errors import ProfileInvalid
from runtime.config.loader import load_model, load_profile
from runtime.evse.diagram import diagram_document
from runtime.version import chargeos_version
from schemas import Profile
from schemas.image import Board

REPO = Path(__file__).resolve().parent
SCHEMA_PATH = REPO / "schemas" / "profile.schema.json"
DIAGRAM_PATH = REPO / "docs" / "evse-state-machine.md"
IMAGE_DIR = REPO / "image"
OUT_DIR = REPO / "out"
CACHE_DIR = REPO / "cache"
SCHEMA_ID = "https://chargeos.invalid/schemas/profile.schema.json"


def profile_json_schema() -> dict[str, Any]:
    """The JSON Schema of a profile, as committed in schemas/profile.schema.json."""
    schema = Profile.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def render_json_schema() -> str:
    """The schema file's exact text (stable, so a stale committed copy is detectable)."""
    return json.dumps(profile_json_schema(), indent=2, ensure_ascii=False) + "\n"


def cmd_validate(paths: Sequence[Path]) -> int:
    """Validate every profile; print all errors; exit code 0 only when all are valid."""
    failed = 0
    for path in paths:
        try:
            load_profile(path)
        except ProfileInvalid as invalid:
            failed += 1
            for error in invalid.errors:
                print(error)
        else:
            print(f"{path}: ok")
    if failed:
        print(f"{failed} of {len(paths)} profile(s) invalid", file=sys.stderr)
        return 1
    return 0


def board_file_problems(board: Board, source: Path, image_dir: Path = IMAGE_DIR) -> list[str]:
    """Overlays and hooks a board names that are missing from image/ (or not executable)."""
    problems = []
    for index, overlay in enumerate(board.overlays):
        if not (image_dir / overlay).is_dir():
            problems.append(f"{source}: overlays.{index}: no directory image/{overlay}")
    hooks = [("post_build", h) for h in board.hooks.post_build]
    hooks += [("post_image", h) for h in board.hooks.post_image]
    for kind, hook in hooks:
        script = image_dir / hook
        if not script.is_file() or not os.access(script, os.X_OK):
            problems.append(f"{source}: hooks.{kind}: image/{hook} is missing or not executable")
    return problems


def cmd_validate_board(paths: Sequence[Path]) -> int:
    """Validate board descriptions and the files they name; exit code 0 only when all are good."""
    failed = 0
    for path in paths:
        try:
            board = load_model(path, Board)
        except ProfileInvalid as invalid:
            failed += 1
            for error in invalid.errors:
                print(error)
            continue
        problems = board_file_problems(board, path)
        for problem in problems:
            print(problem)
        failed += bool(problems)
        if not problems:
            print(f"{path}: ok ({board.name}, {board.compatible})")
    return 1 if failed else 0


def cmd_schema(output: Path) -> int:
    """Write the profile JSON Schema."""
    output.write_text(render_json_schema(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def cmd_diagram(output: Path) -> int:
    """Write the state machine diagram generated from its table."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(diagram_document(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH from the environment, else the last commit's time."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    result = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True, check=False
    )
    return int(result.stdout.strip() or 0)


def load_board(name: str) -> tuple[Board, Path] | None:
    """The board description image/boards/NAME/board.yaml, or None after printing why not."""
    path = IMAGE_DIR / "boards" / name / "board.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.parent.name for p in IMAGE_DIR.glob("boards/*/board.yaml")))
        print(f"no board {name!r} (image/boards/{name}/board.yaml); boards: {known}")
        return None
    try:
        board = load_model(path, Board)
    except ProfileInvalid as invalid:
        print(invalid)
        return None
    problems = board_file_problems(board, path)
    for problem in problems:
        print(problem)
    return None if problems else (board, path)


QEMU_USER = {"arm64": "qemu-aarch64", "armhf": "qemu-arm"}


def foreign_architecture_problem(board: Board) -> str | None:
    """Why this machine cannot run the board's binaries in a chroot, or None when it can."""
    host = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
    ).stdout.strip()
    architecture = board.debian.architecture
    if architecture == host:
        return None
    handler = Path("/proc/sys/fs/binfmt_misc") / QEMU_USER.get(architecture, architecture)
    if handler.exists():
        return None
    return (
        f"board {board.name} is {architecture} and this machine is {host}: building its root "
        f"filesystem runs {architecture} programs in a chroot, which needs qemu-user-static with "
        f"a binfmt_misc handler ({handler} does not exist)"
    )


def cmd_image(args: argparse.Namespace) -> int:
    """Build the board's image from its description and a profile."""
    loaded = load_board(args.board)
    if loaded is None:
        return 1
    board, board_path = loaded
    if os.geteuid() != 0:
        print("build.py image needs root (mmdebstrap --mode=root, chroot, device nodes)")
        return 1
    foreign = foreign_architecture_problem(board)
    if foreign:
        print(foreign)
        return 1
    try:
        load_profile(args.profile)
    except ProfileInvalid as invalid:
        print(invalid)
        return 1
    keys_dir: Path = args.keys_dir or default_keys_dir()
    if not list(keys_dir.glob("*.pub")):
        print(f"no update signing keys in {keys_dir}: run `python build.py keys` first")
        return 1
    out_dir: Path = args.out / board.name
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ".lock").open("w") as lock, (out_dir / "build.log").open("w") as log_file:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another build of {board.name} is running in {out_dir}")
            return 1
        for stale in out_dir.glob("*.img"):
            stale.unlink()
        ctx = BuildContext(
            repo=REPO,
            board=board,
            board_dir=board_path.parent,
            image_dir=IMAGE_DIR,
            profile=args.profile.resolve(),
            out_dir=out_dir,
            cache_dir=args.cache_dir,
            source_date_epoch=source_date_epoch(),
            version=args.version or chargeos_version(),
            log=BuildLog(log_file),
            min_version=args.min_version or "",
            keys_dir=keys_dir,
        )
        print(f"building ChargeOS {ctx.version} for {board.name} (log: {out_dir / 'build.log'})")
        try:
            info_path = build_image(ctx)
        except BuildError as error:
            print(f"build failed: {error}\nfull log: {out_dir / 'build.log'}")
            return 1
    info = json.loads(info_path.read_text())
    for name, sizes in info["outputs"].items():
        print(f"  {out_dir / name}: {sizes['bytes'] / 2**20:.1f} MiB")
    trim = info["trim"]
    print(
        f"  trimmed {(trim['before_bytes'] - trim['after_bytes']) / 2**20:.0f} MiB "
        f"({trim['before_bytes'] / 2**20:.0f} -> {trim['after_bytes'] / 2**20:.0f} MiB; "
        f"kernel modules {trim['kernel_modules_bytes'] / 2**20:.0f} MiB)"
    )
    print(f"  {info_path}: total {info['total_seconds']:.0f} s")
    return 0


def cmd_ota(args: argparse.Namespace) -> int:
    """(Re)make the signed update zip of the last build of a board."""
    loaded = load_board(args.board)
    if loaded is None:
        return 1
    board, board_path = loaded
    out_dir: Path = args.out / board.name
    info_path = out_dir / "build-info.json"
    if not info_path.is_file() or not (out_dir / "rootfs.squashfs").is_file():
        print(f"no build in {out_dir}: run `python build.py image --board {board.name}` first")
        return 1
    info = json.loads(info_path.read_text())
    with (out_dir / "ota.log").open("w") as log_file:
        ctx = BuildContext(
            repo=REPO,
            board=board,
            board_dir=board_path.parent,
            image_dir=IMAGE_DIR,
            profile=Path(info["inputs"]["profile"]),
            out_dir=out_dir,
            cache_dir=args.out,
            source_date_epoch=int(info["source_date_epoch"]),
            version=str(info["version"]),
            log=BuildLog(log_file),
            min_version=str(info["min_version"]),
            keys_dir=args.keys_dir or default_keys_dir(),
        )
        ctx.log.figures["kernel"] = info.get("kernel")
        try:
            output = make_update_zip(ctx)
        except BuildError as error:
            print(f"update zip not made: {error}")
            return 1
    print(f"{output}: {output.stat().st_size / 2**20:.1f} MiB, ChargeOS {ctx.version}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Create a development update-signing key outside the repository."""
    keys_dir: Path = args.keys_dir or default_keys_dir()
    if keys_dir.resolve().is_relative_to(REPO):
        print(f"{keys_dir} is inside the repository: signing keys are never committed")
        return 1
    existing = signing_key_paths(keys_dir) if keys_dir.exists() else []
    if existing and args.if_missing:
        print(f"signing key present: {existing[0]}")
        return 0
    private, public = create_signing_key(keys_dir)
    print(f"signing key (keep it secret, never commit it): {private}")
    print(f"public key (images built from now on trust it): {public}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Boot the built image of a board in qemu until it powers off or Ctrl-C."""
    out_dir: Path = args.out / args.board
    images = sorted(out_dir.glob("*.img"))
    if not images:
        print(f"no image in {out_dir}: run `python build.py image --board {args.board}` first")
        return 1
    webui = json.loads((out_dir / "build-info.json").read_text())["webui"]
    forwards = [qemu.Forward(args.https_port, webui["https_port"])]
    if webui["http_port"]:
        forwards.append(qemu.Forward(args.http_port, webui["http_port"]))
    machine = qemu.QemuMachine(
        image=images[-1], serial_log=out_dir / "serial.log", forwards=tuple(forwards)
    )
    print(f"booting {machine.image} under TCG; serial console: {machine.serial_log}")
    print(f"web configurator: https://127.0.0.1:{args.https_port} once `evse available` shows")
    process = qemu.start(machine)
    try:
        return process.wait()
    except KeyboardInterrupt:
        qemu.stop(process)
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate profile YAML files")
    validate.add_argument("profiles", nargs="+", type=Path)
    schema = commands.add_parser("schema", help="write schemas/profile.schema.json")
    schema.add_argument("--output", type=Path, default=SCHEMA_PATH)
    boards = commands.add_parser("validate-board", help="validate image/boards/*/board.yaml")
    boards.add_argument("boards", nargs="+", type=Path)
    diagram = commands.add_parser("diagram", help="write docs/evse-state-machine.md")
    diagram.add_argument("--output", type=Path, default=DIAGRAM_PATH)
    image = commands.add_parser("image", help="build the disk image of a board")
    image.add_argument("--board", default="qemu-x86_64")
    image.add_argument("--profile", type=Path, default=REPO / "profiles" / "simulated.yaml")
    image.add_argument("--out", type=Path, default=OUT_DIR)
    image.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    image.add_argument("--version", help="system version (default: pyproject's)")
    image.add_argument("--min-version", help="version floor: no update below it installs")
    image.add_argument(
        "--keys-dir", type=Path, help="update keys (default ~/.config/chargeos/keys)"
    )
    ota = commands.add_parser("ota", help="(re)make the signed update zip of the last build")
    ota.add_argument("--board", default="qemu-x86_64")
    ota.add_argument("--out", type=Path, default=OUT_DIR)
    ota.add_argument("--keys-dir", type=Path, help="signing keys (default ~/.config/chargeos/keys)")
    keys = commands.add_parser("keys", help="create a development update-signing key")
    keys.add_argument("--keys-dir", type=Path, help="where (default ~/.config/chargeos/keys)")
    keys.add_argument("--if-missing", action="store_true", help="keep an existing key")
    run = commands.add_parser("run", help="boot the built image in qemu (TCG)")
    run.add_argument("--board", default="qemu-x86_64")
    run.add_argument("--out", type=Path, default=OUT_DIR)
    run.add_argument("--https-port", type=int, default=8443)
    run.add_argument("--http-port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "image":
        return cmd_image(args)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "keys":
        return cmd_keys(args)
    if args.command == "ota":
        return cmd_ota(args)
    if args.command == "validate":
        return cmd_validate(args.profiles)
    if args.command == "validate-board":
        return cmd_validate_board(args.boards)
    if args.command == "diagram":
        return cmd_diagram(args.output)
    return cmd_schema(args.output)


if __name__ == "__main__":
    sys.exit(main())
