"""`python -m runtime.update`: the OTA steps from the command line, one subcommand each.

`verify ZIP` prints the verdict (summary, then details indented) and exits 0 only when the zip
would install on this system, 1 when it is refused and 2 when the system itself is unreadable.
`install ZIP` verifies and installs into the slot that is not running (progress lines, then the
result; 0 installed, 1 refused or failed); `activate` makes the next restart try an update
installed with --no-activate; `status` prints the recorded status in words and as JSON;
`mark-good` confirms the booted slot as the health check does. On a device (the privileged
helper's socket exists) install and activate go through the helper. Install, activate and
mark-good refuse, exit 1, on a system not booted from an A/B slot.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runtime.boot.grubenv import GrubEnvError
from runtime.boot.scheme import SLOT_LABELS
from runtime.boot.slots import SlotError, SlotSet, booted_slot
from runtime.privileged.protocol import HELPER_SOCKET
from runtime.update import through_helper
from runtime.update.commit import after_boot
from runtime.update.install import InstallError, activate_installed, install_update
from runtime.update.report import CHECKING, status_words, step_words
from runtime.update.status import read_status
from runtime.update.system import RunningSystem, SystemFileError, running_system, slot_size
from runtime.update.verify import Verdict, verify_update

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_SYSTEM = 2
STATE_DIR = Path("/data/update")  # the data partition's update directory (as the health check)

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
    add_force(verify)
    verify.set_defaults(command=cmd_verify)
    install = steps.add_parser("install", help="verify, then install into the other slot")
    install.add_argument("zip", type=Path, metavar="ZIP", help="the update zip")
    add_system_arguments(install)
    add_force(install)
    install.add_argument(
        "--no-activate",
        action="store_true",
        help="install only; `activate` makes the next restart try it (a charging session runs)",
    )
    add_slot_arguments(install)
    add_helper_arguments(install)
    install.set_defaults(command=cmd_install)
    activate = steps.add_parser("activate", help="let the next restart try the installed update")
    add_slot_arguments(activate)
    add_helper_arguments(activate)
    activate.set_defaults(command=cmd_activate)
    status = steps.add_parser("status", help="the recorded update status, in words and as JSON")
    add_state_dir(status)
    status.set_defaults(command=cmd_status)
    mark_good = steps.add_parser(
        "mark-good", help="confirm the booted slot (commit a trial boot, notice a rollback)"
    )
    add_slot_arguments(mark_good)
    mark_good.add_argument(
        "--grubenv", type=Path, help="GRUB's environment file (default: the device's)"
    )
    mark_good.set_defaults(command=cmd_mark_good)
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


def add_force(parser: argparse.ArgumentParser) -> None:
    """--force: the running version may be installed again."""
    parser.add_argument(
        "--force", action="store_true", help="accept the version that is already running"
    )


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    """--state-dir: where the update status and the install lock are."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help=f"the update status directory (default {STATE_DIR})",
    )


def add_slot_arguments(parser: argparse.ArgumentParser) -> None:
    """--state-dir, and --slots-dir (tests: file-backed slots instead of the device's)."""
    add_state_dir(parser)
    parser.add_argument("--slots-dir", type=Path, help=argparse.SUPPRESS)


def add_helper_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the privileged helper listens and takes staged zips (a device: the defaults)."""
    parser.add_argument("--helper-socket", type=Path, default=HELPER_SOCKET, help=argparse.SUPPRESS)
    parser.add_argument(
        "--uploads-dir", type=Path, default=through_helper.UPLOADS_DIR, help=argparse.SUPPRESS
    )


def uses_helper(args: argparse.Namespace) -> bool:
    """On a device (its helper's socket exists, the device's own slots): through the helper."""
    socket_path: Path = args.helper_socket
    return args.slots_dir is None and socket_path.exists()


def slot_set(args: argparse.Namespace) -> SlotSet:
    """The device's slots, or the files rootfs-a, rootfs-b, grubenv, cmdline, mounts of a folder."""
    folder: Path | None = args.slots_dir
    if folder is None:
        slots = SlotSet.on_device()
    else:
        slots = SlotSet(
            devices={slot: folder / label for slot, label in SLOT_LABELS.items()},
            grubenv=folder / "grubenv",
            cmdline=folder / "cmdline",
            mounts=folder / "mounts",
        )
    grubenv: Path | None = getattr(args, "grubenv", None)
    if grubenv is not None:
        slots = SlotSet(slots.devices, grubenv, slots.cmdline, slots.mounts)
    return slots


def not_booted_from_a_slot(slots: SlotSet, what: str) -> bool:
    """Say so (and return True) when this system was not booted from an A/B slot."""
    if booted_slot(slots.cmdline) is not None:
        return False
    print(
        f"update: this system was not booted from an A/B slot (no chargeos.slot= in "
        f"{slots.cmdline}): {what}",
        file=sys.stderr,
    )
    return True


def this_system(args: argparse.Namespace) -> RunningSystem | None:
    """The system an update is checked against (--root, --slot-size); None after saying why."""
    size = args.slot_size if args.slot_size is not None else slot_size(args.root)
    try:
        return running_system(args.root, slot_size_bytes=size)
    except SystemFileError as error:
        print(f"update: this system's description is unusable: {error}", file=sys.stderr)
        return None


def cmd_verify(args: argparse.Namespace) -> int:
    """verify ZIP: print the verdict; 0 when the zip would install."""
    system = this_system(args)
    if system is None:
        return EXIT_SYSTEM
    verdict = verify_update(args.zip, system, force=args.force)
    print(verdict_text(verdict))
    return EXIT_OK if verdict.ok else EXIT_REFUSED


def cmd_install(args: argparse.Namespace) -> int:
    """install ZIP: progress lines, then what was installed; 0 installed."""
    if uses_helper(args):
        return install_through_helper(args)
    slots = slot_set(args)
    if not_booted_from_a_slot(slots, "there is no other slot to install into"):
        return EXIT_REFUSED
    system = this_system(args)
    if system is None:
        return EXIT_SYSTEM
    activate = not args.no_activate
    print(f"  0 %  {CHECKING}", flush=True)
    try:
        result = install_update(
            args.zip, system, slots, args.state_dir,
            force=args.force, activate=activate, progress=ProgressLines(),
        )  # fmt: skip
    except (InstallError, OSError, GrubEnvError) as error:
        print(f"update: not installed: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(installed_text(result.version, result.target_slot, activated=result.activated))
    return EXIT_OK


def install_through_helper(args: argparse.Namespace) -> int:
    """install ZIP on a device: the privileged helper verifies and writes it."""
    if args.force:
        print("update: --force is not offered through the privileged helper", file=sys.stderr)
        return EXIT_REFUSED
    print(f"  0 %  {CHECKING}", flush=True)
    try:
        reply = through_helper.install(
            args.zip, args.helper_socket, args.uploads_dir,
            activate=not args.no_activate, progress=ProgressLines(),
        )  # fmt: skip
    except (through_helper.HelperError, OSError) as error:
        print(f"update: not installed: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(installed_text(reply.version, reply.target_slot, activated=reply.activated))
    return EXIT_OK


def installed_text(version: str | None, slot: str | None, *, activated: bool) -> str:
    """What an install did, in words."""
    if activated:
        return (
            f"Update {version} installed in slot {slot}: the next restart "
            "tries it once, and keeps it when the health check passes."
        )
    return (
        f"Update {version} installed in slot {slot}, not activated: "
        "`python -m runtime.update activate` lets the next restart try it."
    )


class ProgressLines:
    """The installer's progress as lines: one per step and per tenth of the way."""

    def __init__(self) -> None:
        self._last: tuple[str, int] | None = None

    def __call__(self, step: str, fraction: float) -> None:
        words, percent = step_words(step, fraction), int(fraction * 100)
        shown = (words, percent // 10)
        if shown != self._last:
            print(f"{percent:3d} %  {words}", flush=True)
            self._last = shown


def cmd_activate(args: argparse.Namespace) -> int:
    """activate: the installed update boots at the next restart (one trial)."""
    if uses_helper(args):
        try:
            reply = through_helper.activate(args.helper_socket)
        except through_helper.HelperError as error:
            print(f"update: not activated: {error}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"Update {reply.version} activated: slot {reply.target_slot} is tried at the next "
              "restart.")  # fmt: skip
        return EXIT_OK
    slots = slot_set(args)
    if not_booted_from_a_slot(slots, "nothing to activate"):
        return EXIT_REFUSED
    try:
        status = activate_installed(slots, args.state_dir)
    except InstallError as error:
        print(f"update: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, GrubEnvError) as error:
        print(f"update: not activated: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(
        f"Update {status.version} activated: slot {status.target_slot} is tried at the next "
        "restart."
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """status: the recorded status in words, then as JSON."""
    status = read_status(args.state_dir)
    print(status_words(status))
    print(status.model_dump_json(indent=2))
    return EXIT_OK


def cmd_mark_good(args: argparse.Namespace) -> int:
    """mark-good: what the health check does for a healthy system; prints the outcome."""
    slots = slot_set(args)
    if not_booted_from_a_slot(slots, "no slot to mark good"):
        return EXIT_REFUSED
    try:
        outcome = after_boot(slots, args.state_dir, healthy=True)
    except (OSError, GrubEnvError, SlotError) as error:
        print(f"update: the booted slot could not be marked good: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(outcome.message)
    return EXIT_OK


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
