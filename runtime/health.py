"""`python -m runtime.health --data-dir D`: the booted system's own health check.

Checks the data partition, the hardware watchdog, least privilege (runtime.least_privilege), the
active profile, every supervisord program that starts at boot and the evse service, retrying
until all pass or `--wait-s` runs out. One line per check, then one summary line (the image's
unit sends it to the serial console). With `--mark-good` a healthy system confirms its A/B slot
in GRUB's environment (RAUC's scheme: mark-good comes from here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime import least_privilege
from runtime.boot import grubenv
from runtime.boot.slots import SlotSet, booted_slot
from runtime.boot.started import read_started, read_uptime
from runtime.config.errors import ProfileInvalid
from runtime.config.validated_copy import load_active_profile
from runtime.evse.client import EvseApiError, EvseClient, EvseUnavailable
from runtime.footprint import memory_line, service_memory
from runtime.supervisor import Supervisor, SupervisorUnavailable
from runtime.update.commit import BootOutcome, after_boot
from runtime.version import chargeos_version

RETRY_S = 1.0
UPDATE_DIR = "update"  # the updater's status under the data directory
REBOOT_COMMAND = ("systemctl", "reboot")
CHECK_TIMEOUT_S = 10.0  # one check; a service that accepts but never answers fails it
EVSE_CHECK = "evse"
WATCHDOG_CLASS = "sys/class/watchdog"  # under the root: the kernel's watchdog devices


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict; `reason` says what is wrong and where."""

    ok: bool
    reason: str = ""  # a failure's; a pass may name what it found
    final: bool = False  # waiting longer cannot help (supervisord gave up on a crash loop)


OK = CheckResult(True)


@dataclass(frozen=True)
class HealthContext:
    """What the checks look at."""

    data_dir: Path
    timeout_s: float = CHECK_TIMEOUT_S
    root: Path = Path("/")

    @property
    def supervisor_socket(self) -> Path:
        """supervisord's XML-RPC socket."""
        return self.data_dir / "run" / "supervisor.sock"

    @property
    def evse_socket(self) -> Path:
        """The evse local API's socket."""
        return self.data_dir / "run" / "evse.sock"


@dataclass(frozen=True)
class HealthCheck:
    """One line of the health report."""

    name: str
    check: Callable[[HealthContext], Awaitable[CheckResult]]
    only_with: Literal["require_mount", "require_watchdog", "require_least_privilege"] | None = (
        None  # device-only checks
    )


async def data_is_mounted(context: HealthContext) -> CheckResult:
    """The data directory is a mount point (the data partition is mounted)."""
    if await asyncio.to_thread(os.path.ismount, context.data_dir):
        return OK
    return CheckResult(False, f"{context.data_dir} is not a mount point; is /data mounted?")


async def root_is_read_only(context: HealthContext) -> CheckResult:
    """The root filesystem is mounted read-only (a slot is never written while it runs)."""
    flags = (await asyncio.to_thread(os.statvfs, context.root)).f_flag
    if flags & os.ST_RDONLY:
        return OK
    return CheckResult(False, f"{context.root} is mounted read-write")


async def watchdog_is_armed(context: HealthContext) -> CheckResult:
    """A hardware watchdog is armed (systemd feeds it), so a hung system resets by itself."""
    devices = sorted((context.root / WATCHDOG_CLASS).glob("watchdog*"))
    states = {device: await asyncio.to_thread(_sysfs_text, device / "state") for device in devices}
    armed = [device for device, state in states.items() if state == "active"]
    if not armed:
        found = ", ".join(
            f"{device.name} {state or 'unreadable'}" for device, state in states.items()
        )
        return CheckResult(
            False,
            f"no hardware watchdog armed (/{WATCHDOG_CLASS}: {found or 'no watchdog device'}): "
            "a hung system would not reset",
        )
    device = armed[0]
    identity = await asyncio.to_thread(_sysfs_text, device / "identity")
    timeout = await asyncio.to_thread(_sysfs_text, device / "timeout")
    return CheckResult(True, f"{device.name}, {identity or 'unnamed'}, timeout {timeout or '?'} s")


def _sysfs_text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


async def services_are_unprivileged(context: HealthContext) -> CheckResult:
    """No ChargeOS process but the privileged helper runs as root, and the services' user
    cannot open a root slot, GRUB's environment or the system's login hashes."""
    verdict = least_privilege.check(context.root)  # forks: not from a worker thread
    return CheckResult(verdict.ok, verdict.reason)


async def profile_is_valid(context: HealthContext) -> CheckResult:
    """The active profile loads and validates."""
    try:
        await asyncio.to_thread(load_active_profile, context.data_dir, keep_copy=False)
    except ProfileInvalid as invalid:
        more = f" (and {len(invalid.errors) - 1} more)" if len(invalid.errors) > 1 else ""
        return CheckResult(False, f"{invalid.errors[0]}{more}")
    return OK


async def programs_are_running(context: HealthContext) -> CheckResult:
    """Every program configured to start at boot is RUNNING under supervisord."""
    supervisor = Supervisor(context.supervisor_socket)
    try:
        configs = await supervisor.configs()
        states = {program.name: program.state for program in await supervisor.programs()}
    except SupervisorUnavailable as error:
        return CheckResult(False, str(error))
    wanted = sorted(name for name, config in configs.items() if config.autostart)
    if not wanted:
        return CheckResult(False, f"no program starts at boot ({context.supervisor_socket})")
    down = [f"{n} {states.get(n, 'missing')}" for n in wanted if states.get(n) != "RUNNING"]
    # FATAL: supervisord stopped restarting a program that kept exiting (a crash loop).
    crash_loop = any(states.get(name) == "FATAL" for name in wanted)
    return CheckResult(False, ", ".join(down), final=crash_loop) if down else OK


async def evse_answers(context: HealthContext) -> CheckResult:
    """The evse service answers GET /status on its socket; the pass names its state, LED and any
    active fault (a fault is the charger's to show, not a broken system)."""
    try:
        async with EvseClient(context.evse_socket, timeout_s=context.timeout_s) as evse:
            status = await evse.status()
    except (EvseUnavailable, EvseApiError) as error:
        return CheckResult(False, str(error))
    faults = "".join(f", {fault.kind}: {fault.detail}" for fault in status.faults)
    return CheckResult(True, f"{status.state}, LED {status.led}{faults}")


async def webapp_listens(context: HealthContext) -> CheckResult:
    """The web configurator accepts connections on the profile's HTTPS port."""
    try:
        webui = (
            await asyncio.to_thread(load_active_profile, context.data_dir, keep_copy=False)
        ).webui
    except ProfileInvalid:
        return CheckResult(False, "the profile is invalid, so its HTTPS port is unknown")
    host = "127.0.0.1" if str(webui.bind_address) == "0.0.0.0" else str(webui.bind_address)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, webui.https_port), context.timeout_s
        )
    except (OSError, TimeoutError) as error:
        return CheckResult(False, f"nothing answers on {host}:{webui.https_port} ({error})")
    writer.close()
    return OK


CHECKS: tuple[HealthCheck, ...] = (
    HealthCheck("data mounted", data_is_mounted, only_with="require_mount"),
    HealthCheck("root read-only", root_is_read_only, only_with="require_mount"),
    HealthCheck("watchdog", watchdog_is_armed, only_with="require_watchdog"),
    HealthCheck("profile", profile_is_valid),
    HealthCheck("programs", programs_are_running),
    HealthCheck(EVSE_CHECK, evse_answers),
    HealthCheck("webapp", webapp_listens),
    HealthCheck("least privilege", services_are_unprivileged, only_with="require_least_privilege"),
)


def checks_for(
    *,
    require_mount: bool = False,
    require_watchdog: bool = False,
    require_least_privilege: bool = False,
) -> tuple[HealthCheck, ...]:
    """The checks to run: the device-only ones only when asked for."""
    asked = {
        "require_mount": require_mount,
        "require_watchdog": require_watchdog,
        "require_least_privilege": require_least_privilege,
    }
    return tuple(c for c in CHECKS if c.only_with is None or asked[c.only_with])


async def run_check(check: HealthCheck, context: HealthContext) -> CheckResult:
    """Run one check within its time limit."""
    try:
        return await asyncio.wait_for(check.check(context), context.timeout_s)
    except TimeoutError:
        return CheckResult(False, f"no answer within {context.timeout_s:g} s")


async def check_until_healthy(
    checks: Sequence[HealthCheck],
    context: HealthContext,
    wait_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first_pass: Callable[[HealthCheck, CheckResult], None] = lambda _check, _result: None,
) -> list[tuple[HealthCheck, CheckResult]]:
    """Run every check, again every RETRY_S until all pass or wait_s is over; the last round.

    `first_pass` hears of each check the first time it passes (while others may still fail).
    """
    deadline = clock() + wait_s
    results: list[tuple[HealthCheck, CheckResult]] = []
    passed: set[str] = set()
    for _attempt in range(int(wait_s / RETRY_S) + 1):  # bounded even if the clock stands still
        results = [(check, await run_check(check, context)) for check in checks]
        for check, result in results:
            if result.ok and check.name not in passed:
                passed.add(check.name)
                first_pass(check, result)
        if all(result.ok for _, result in results) or clock() >= deadline:
            break
        if any(result.final for _, result in results):
            break
        await sleep(min(RETRY_S, max(0.0, deadline - clock())))
    return results


def summary(healthy: bool, failed: Sequence[str], slot: str | None, uptime_s: float) -> str:
    """The one line that ends the report."""
    version = chargeos_version()
    if healthy:
        return (
            f"ChargeOS {version}: evse available, system healthy "
            f"(slot {slot or 'none'}, uptime {uptime_s:.2f} s)"
        )
    return f"ChargeOS {version}: system NOT healthy: {', '.join(failed)}"


def charging_ready(
    check: HealthCheck, result: CheckResult, uptime_s: float, started_s: float | None = None
) -> str | None:
    """The console line for the moment the charger can charge: evse answers and shows green,
    whatever the configurator and the rest of the system are still doing. `started_s` is evse's
    own record of when it started green in this boot (run/evse.started); the check only
    confirms it, so the line says when charging became possible, not when health looked."""
    if check.name != EVSE_CHECK or result.reason.split(", ")[1:2] != ["LED green"]:
        return None
    moment = started_s if started_s is not None else uptime_s
    return f"ChargeOS {chargeos_version()}: evse available, LED green (uptime {moment:.2f} s)"


def started_green_s(data_dir: Path) -> float | None:
    """When evse started showing green in this boot (its run/evse.started), if it did."""
    started = read_started(data_dir / "run")
    return started.uptime_s if started is not None and started.led == "green" else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime.health", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--wait-s", type=float, default=0.0, help="retry every second for this long (default 0)"
    )
    parser.add_argument("--require-mount", action="store_true", help="data dir must be a mount")
    parser.add_argument(
        "--require-watchdog", action="store_true", help="a hardware watchdog must be armed"
    )
    parser.add_argument(
        "--require-least-privilege",
        action="store_true",
        help="no ChargeOS service but the privileged helper may run as root",
    )
    parser.add_argument(
        "--report-memory",
        action="store_true",
        help="print the memory of every process of chargeos.service (runtime.footprint)",
    )
    parser.add_argument("--grubenv", type=Path, help="GRUB's environment file (for --mark-good)")
    parser.add_argument("--mark-good", action="store_true", help="confirm the booted A/B slot")
    parser.add_argument("--cmdline", type=Path, default=Path("/proc/cmdline"))
    parser.add_argument(
        "--reboot-failed-trial",
        action="store_true",
        help="reboot when an update's trial boot is not healthy (the bootloader then falls back)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    uptime: Callable[[], float] = read_uptime,
) -> int:
    """Check, report, optionally mark the slot good; 0 when healthy."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.mark_good and args.grubenv is None:
        parser.error("--mark-good needs --grubenv PATH (GRUB's environment file)")
    if args.wait_s < 0:
        parser.error("--wait-s must be 0 or more")
    context = HealthContext(args.data_dir.resolve())
    checks = checks_for(
        require_mount=args.require_mount,
        require_watchdog=args.require_watchdog,
        require_least_privilege=args.require_least_privilege,
    )
    # supervisord's XML-RPC client blocks in a thread: a socket timeout bounds it too.
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(CHECK_TIMEOUT_S)

    def announce(check: HealthCheck, result: CheckResult) -> None:
        line = charging_ready(check, result, uptime(), started_green_s(context.data_dir))
        if line is not None:
            print(line, flush=True)

    try:
        results = asyncio.run(
            check_until_healthy(
                checks, context, args.wait_s, clock=clock, sleep=sleep, first_pass=announce
            )
        )
    finally:
        socket.setdefaulttimeout(previous_timeout)
    for check, result in results:
        found = f" ({result.reason})" if result.reason else ""
        verdict = f"ok{found}" if result.ok else f"FAILED: {result.reason}"
        print(f"health: {check.name}: {verdict}")
    failed = [check.name for check, result in results if not result.ok]
    if args.report_memory:
        print(
            f"ChargeOS memory of {least_privilege.SERVICES_UNIT}: {memory_line(service_memory())}"
        )
    slot = booted_slot(args.cmdline)
    status = 0 if not failed else 1
    outcome = None
    if args.mark_good:
        outcome, marked = _after_boot(args, slot, healthy=not failed)
        status = status or marked
    print(summary(not failed, failed, slot, uptime()), flush=True)
    if outcome is not None and outcome.reboot and args.reboot_failed_trial:
        subprocess.run(REBOOT_COMMAND, check=False, timeout=60)
    return status


def _after_boot(
    args: argparse.Namespace, slot: str | None, *, healthy: bool
) -> tuple[BootOutcome | None, int]:
    """Commit or roll back an update, or confirm the slot; (outcome, exit status)."""
    if slot is None:
        print(
            f"health: not booted from an A/B slot (no chargeos.slot= in {args.cmdline}); unchanged"
        )
        return None, 0
    slots = SlotSet(devices={}, grubenv=args.grubenv, cmdline=args.cmdline)
    try:
        outcome = after_boot(slots, args.data_dir.resolve() / UPDATE_DIR, healthy)
    except (OSError, grubenv.GrubEnvError) as error:
        print(f"health: slot {slot} could not be marked good: {error}", file=sys.stderr)
        return None, 1
    print(f"health: {outcome.message}")
    return outcome, 0


if __name__ == "__main__":
    sys.exit(main())
