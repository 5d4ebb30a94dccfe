"""`python -m runtime.update`: the OTA steps from the command line, one subcommand each.

`verify ZIP` prints the verdict (summary, then details indented) and exits 0 only when the zip
would install on this system, 1 when it is refused and 2 when the system itself is unreadable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runtime.update.system import SystemFileError, running_system, slot_size
from runtime.update.verify import Verdict, verify_update

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_SYSTEM = 2

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The parser: one subparser per OTA step, each with its handler as `command`."""
    parser = argparse.ArgumentParser(
        prog="python -m runtime.update", description="ChargeOS over-the-air updates"
    )
    steps = parser.add_subparsers(dest="step", required=True, metavar="COMMAND")
    verify = steps.add_parser("verify", help="check an update zip; write nothing")
    verify.add_argument("zip", type=Path, metavar="ZIP", help="the update zip")
    add_system_arguments(verify)
    verify.add_argument(
        "--force", action="store_true", help="accept the version that is already running"
    )
    verify.set_defaults(command=cmd_verify)
    return parser


def add_system_arguments(parser: argparse.ArgumentParser) -> None:
    """--root and --slot-size: which system the update is checked against."""
    parser.add_argument(
        "--root", type=Path, default=Path("/"), help="the system's root directory (default /)"
    )
    parser.add_argument(
        "--slot-size",
        type=int,
        metavar="BYTES",
        help="the root slot's size (default: rootfs-a's size, unchecked without slots)",
    )


def cmd_verify(args: argparse.Namespace) -> int:
    """verify ZIP: print the verdict; 0 when the zip would install."""
    size = args.slot_size if args.slot_size is not None else slot_size(args.root)
    try:
        system = running_system(args.root, slot_size_bytes=size)
    except SystemFileError as error:
        print(f"update: this system's description is unusable: {error}", file=sys.stderr)
        return EXIT_SYSTEM
    verdict = verify_update(args.zip, system, force=args.force)
    print(verdict_text(verdict))
    return EXIT_OK if verdict.ok else EXIT_REFUSED


def verdict_text(verdict: Verdict) -> str:
    """The summary line, then each detail indented."""
    return "\n".join([verdict.summary, *(f"  {detail}" for detail in verdict.details)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit status."""
    args = build_parser().parse_args(argv)
    command: Command = args.command
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
