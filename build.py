#!/usr/bin/env python3
"""ChargeOS build entry point: validate profiles, generate the JSON Schema and diagrams.

`python build.py validate PROFILE...` checks profiles and prints every error as
`FILE:LINE:COL: dotted.path: message`; `python build.py schema` regenerates
`schemas/profile.schema.json` for editors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.config.errors import ProfileInvalid
from runtime.config.loader import load_model, load_profile
from runtime.evse.diagram import diagram_document
from schemas import Profile
from schemas.image import Board

REPO = Path(__file__).resolve().parent
SCHEMA_PATH = REPO / "schemas" / "profile.schema.json"
DIAGRAM_PATH = REPO / "docs" / "evse-state-machine.md"
IMAGE_DIR = REPO / "image"
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
    args = parser.parse_args(argv)
    if args.command == "validate":
        return cmd_validate(args.profiles)
    if args.command == "validate-board":
        return cmd_validate_board(args.boards)
    if args.command == "diagram":
        return cmd_diagram(args.output)
    return cmd_schema(args.output)


if __name__ == "__main__":
    sys.exit(main())
