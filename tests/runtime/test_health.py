"""The booted system's health check: its report, its bounded wait and marking the slot good."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import health
from runtime.boot import grubenv
from runtime.boot.slots import SlotSet
from runtime.boot.started import read_started, read_uptime
from runtime.firstboot import prepare_device
from runtime.update.commit import after_boot
from runtime.version import chargeos_version
from tests.webui.stack import Stack, running_stack

REPO = Path(__file__).resolve().parents[2]
FACTORY = REPO / "profiles" / "simulated.yaml"
BOOT_STATE = {"ORDER": "A B", "A_OK": "1", "A_TRY": "1", "B_OK": "0", "B_TRY": "0"}
UPTIME_S = 12.5


class FakeTime:
    """A monotonic clock that only moves when the check sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def cmdline(tmp_path: Path, text: str) -> Path:
    """A kernel command line file like /proc/cmdline."""
    path = tmp_path / "cmdline"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def check(data_dir: Path, *arguments: str, fake: FakeTime | None = None) -> int:
    """`python -m runtime.health --data-dir D ARGS` in this process, uptime fixed."""
    argv = ["--data-dir", str(data_dir), *arguments]
    if fake is None:
        return health.main(argv, uptime=lambda: UPTIME_S)
    return health.main(argv, clock=fake.clock, sleep=fake.sleep, uptime=lambda: UPTIME_S)


def report(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines the check printed."""
    return capsys.readouterr().out.splitlines()


def test_with_nothing_running_it_names_the_failed_checks_after_a_bounded_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    fake = FakeTime()
    assert check(tmp_path, "--wait-s", "3", "--cmdline", str(tmp_path / "none"), fake=fake) == 1
    lines = report(capsys)
    assert fake.sleeps == [1.0, 1.0, 1.0]
    assert lines[0] == "health: profile: ok"
    assert lines[1].startswith("health: programs: FAILED: supervisord does not answer on ")
    assert lines[2].startswith("health: evse: FAILED: evse service not reachable on ")
    assert lines[3].startswith("health: webapp: FAILED: nothing answers on 127.0.0.1:8443")
    assert lines[4:] == [
        f"ChargeOS {chargeos_version()}: system NOT healthy: programs, evse, webapp"
    ]


class SlowChecks(FakeTime):
    """A fake clock on which every reading finds `round_s` more gone: checks that take time."""

    def __init__(self, round_s: float) -> None:
        super().__init__()
        self.round_s = round_s

    def clock(self) -> float:
        now = self.now
        self.now += self.round_s
        return now


def test_the_wait_ends_at_its_deadline_when_the_checks_themselves_take_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    fake = SlowChecks(round_s=0.6)
    started = fake.now
    assert check(tmp_path, "--wait-s", "1.5", "--cmdline", str(tmp_path / "none"), fake=fake) == 1
    assert fake.sleeps == [pytest.approx(0.3)]  # the sleep is cut to what is left of the wait
    assert started + 1.5 <= fake.now <= started + 1.5 + 3 * fake.round_s
    assert report(capsys)[-1].endswith("system NOT healthy: programs, evse, webapp")


def test_an_invalid_profile_is_reported_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    active = tmp_path / "profile.yaml"
    active.write_text(active.read_text().replace("current_limit_a: 32", "current_limit_a: 99"))
    assert check(tmp_path, "--cmdline", str(tmp_path / "none")) == 1
    lines = report(capsys)
    assert lines[0].startswith(f"health: profile: FAILED: {active}:18:")
    assert "electrical.current_limit_a" in lines[0]
    assert lines[-1].endswith("system NOT healthy: profile, programs, evse, webapp")


def test_a_data_directory_that_is_not_mounted_fails_when_a_mount_is_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    assert check(tmp_path, "--require-mount", "--cmdline", str(tmp_path / "none")) == 1
    lines = report(capsys)
    assert (
        lines[0]
        == f"health: data mounted: FAILED: {tmp_path} is not a mount point; is /data mounted?"
    )
    assert "health: root read-only: FAILED: / is mounted read-write" in lines  # this host's root
    assert lines[-1].endswith(
        "system NOT healthy: data mounted, root read-only, programs, evse, webapp"
    )


def test_an_unhealthy_system_never_marks_its_slot_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    env = tmp_path / "grubenv"
    grubenv.create(env, BOOT_STATE)
    slot_a = cmdline(tmp_path, "root=PARTLABEL=rootfs-a ro chargeos.slot=A")
    assert check(tmp_path, "--mark-good", "--grubenv", str(env), "--cmdline", str(slot_a)) == 1
    assert grubenv.read(env) == BOOT_STATE
    assert not any("marked good" in line for line in report(capsys))


def test_mark_good_needs_the_grub_environment_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        check(tmp_path, "--mark-good")
    assert refused.value.code == 2


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        ("BOOT_IMAGE=/boot/vmlinuz root=PARTLABEL=rootfs-b chargeos.slot=B quiet", "B"),
        ("chargeos.slot=A", "A"),
        ("console=ttyS0 root=/dev/vda2", None),
        ("chargeos.slot=C", None),
        ("xchargeos.slot=A", None),
    ],
)
def test_the_booted_slot_comes_from_the_kernel_command_line(
    tmp_path: Path, text: str, slot: str | None
) -> None:
    assert health.booted_slot(cmdline(tmp_path, text)) == slot


def test_no_command_line_file_means_no_slot(tmp_path: Path) -> None:
    assert health.booted_slot(tmp_path / "missing") is None


def test_marking_a_slot_good_resets_its_tries_in_place(tmp_path: Path) -> None:
    env = tmp_path / "grubenv"
    grubenv.create(env, {**BOOT_STATE, "B_OK": "1", "B_TRY": "2"})
    slots = SlotSet(devices={}, grubenv=env, cmdline=cmdline(tmp_path, "chargeos.slot=B"))
    assert after_boot(slots, tmp_path / "update", healthy=True).message == "slot B marked good"
    assert grubenv.read(env) == {**BOOT_STATE, "B_OK": "1", "B_TRY": "0"}
    assert env.stat().st_size == grubenv.BLOCK_SIZE


def test_uptime_is_the_first_number_of_proc_uptime(tmp_path: Path) -> None:
    uptime = tmp_path / "uptime"
    uptime.write_text("4321.07 17000.22\n")
    assert read_uptime(uptime) == 4321.07


# ----- against the whole stack under supervisord ------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """sim + evse + webapp under supervisord, as `make run` starts them."""
    with running_stack(tmp_path_factory.mktemp("health")) as running:
        yield running


@pytest.mark.e2e
def test_a_running_stack_is_healthy_and_marks_slot_a_good(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "grubenv"
    grubenv.create(env, BOOT_STATE)
    slot_a = cmdline(tmp_path, "console=ttyS0 root=PARTLABEL=rootfs-a ro chargeos.slot=A")
    arguments = ["--wait-s", "30", "--mark-good", "--grubenv", str(env), "--cmdline", str(slot_a)]
    assert check(stack.data_dir, *arguments) == 0, stack.log_tails()
    lines = report(capsys)
    # The moment the charger can charge comes first, before the rest of the report: when evse
    # itself started green (its run/evse.started), not when the check looked.
    started = read_started(stack.data_dir / "run")
    assert started is not None and (started.state, started.led) == ("available", "green")
    uptime = f"uptime {started.uptime_s:.2f} s"
    ready = f"ChargeOS {chargeos_version()}: evse available, LED green ({uptime})"
    assert lines[0] == ready
    lines = lines[1:]
    assert lines[:4] == [
        "health: profile: ok",
        "health: programs: ok",
        "health: evse: ok (available, LED green)",
        "health: webapp: ok",
    ]
    assert lines[4] == "health: slot A marked good"
    assert lines[5:] == [
        f"ChargeOS {chargeos_version()}: evse available, system healthy (slot A, uptime 12.50 s)"
    ]
    assert grubenv.read(env) == {**BOOT_STATE, "A_TRY": "0"}


@pytest.mark.e2e
def test_a_system_not_booted_from_a_slot_changes_nothing(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "grubenv"
    grubenv.create(env, BOOT_STATE)
    plain = cmdline(tmp_path, "console=ttyS0 root=/dev/vda2")
    arguments = ["--wait-s", "30", "--mark-good", "--grubenv", str(env), "--cmdline", str(plain)]
    assert check(stack.data_dir, *arguments) == 0, stack.log_tails()
    lines = report(capsys)
    assert re.fullmatch(r"ChargeOS \S+: evse available, LED green \(uptime [0-9.]+ s\)", lines[0])
    assert lines[5].startswith("health: not booted from an A/B slot")
    assert re.fullmatch(r"ChargeOS \S+: evse available, system healthy \(slot none, .*\)", lines[6])
    assert grubenv.read(env) == BOOT_STATE


@pytest.mark.e2e
def test_a_stopped_program_makes_the_system_unhealthy(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = stack.supervisor().supervisor
    supervisor.stopProcess("webapp", True)
    try:
        assert check(stack.data_dir, "--cmdline", "/nonexistent") == 1
        lines = report(capsys)
        assert "health: programs: FAILED: webapp STOPPED" in lines
        assert lines[-1].endswith("system NOT healthy: programs, webapp")
    finally:
        supervisor.startProcess("webapp", True)


def test_a_crash_loop_ends_the_wait_at_once(tmp_path: Path) -> None:
    async def crash_looping(context: health.HealthContext) -> health.CheckResult:
        return health.CheckResult(False, "evse FATAL", final=True)

    checks = (health.HealthCheck("programs", crash_looping),)
    fake = FakeTime()
    results = asyncio.run(
        health.check_until_healthy(
            checks, health.HealthContext(tmp_path), 300, clock=fake.clock, sleep=fake.sleep
        )
    )
    assert fake.sleeps == []  # no point in waiting: supervisord has given up on the program
    assert [result.reason for _, result in results] == ["evse FATAL"]


def watchdog_device(root: Path, name: str, state: str, identity: str, timeout_s: int) -> None:
    """A watchdog as the kernel shows it under /sys/class/watchdog (CONFIG_WATCHDOG_SYSFS)."""
    device = root / health.WATCHDOG_CLASS / name
    device.mkdir(parents=True)
    (device / "state").write_text(f"{state}\n")
    (device / "identity").write_text(f"{identity}\n")
    (device / "timeout").write_text(f"{timeout_s}\n")


def watchdog_verdict(root: Path) -> health.CheckResult:
    return asyncio.run(health.watchdog_is_armed(health.HealthContext(root / "data", root=root)))


def test_an_armed_hardware_watchdog_passes_and_is_named(tmp_path: Path) -> None:
    watchdog_device(tmp_path, "watchdog0", "active", "i6300ESB timer", 30)
    assert watchdog_verdict(tmp_path) == health.CheckResult(
        True, "watchdog0, i6300ESB timer, timeout 30 s"
    )


def test_a_watchdog_nobody_armed_fails_with_what_was_found(tmp_path: Path) -> None:
    watchdog_device(tmp_path, "watchdog0", "inactive", "i6300ESB timer", 30)
    verdict = watchdog_verdict(tmp_path)
    assert not verdict.ok
    assert verdict.reason == (
        "no hardware watchdog armed (/sys/class/watchdog: watchdog0 inactive): "
        "a hung system would not reset"
    )


def test_a_board_without_a_watchdog_device_fails_the_watchdog_check(tmp_path: Path) -> None:
    verdict = watchdog_verdict(tmp_path)
    assert not verdict.ok
    assert "no watchdog device" in verdict.reason


def test_the_watchdog_check_runs_only_when_asked_for() -> None:
    assert "watchdog" not in [check.name for check in health.checks_for(require_mount=True)]
    assert "watchdog" in [check.name for check in health.checks_for(require_watchdog=True)]


def test_the_charging_ready_line_needs_evse_green() -> None:
    evse = next(check for check in health.CHECKS if check.name == "evse")
    webapp = next(check for check in health.CHECKS if check.name == "webapp")
    green = health.CheckResult(True, "available, LED green")
    assert health.charging_ready(evse, green, 31.25) == (
        f"ChargeOS {chargeos_version()}: evse available, LED green (uptime 31.25 s)"
    )
    assert health.charging_ready(evse, health.CheckResult(True, "faulted, LED red"), 31.0) is None
    assert health.charging_ready(webapp, health.OK, 31.0) is None


def test_with_report_memory_it_prints_the_services_memory_before_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, FACTORY)
    check(tmp_path, "--report-memory", "--cmdline", str(tmp_path / "none"))
    lines = report(capsys)
    # Outside the image no chargeos.service exists (runtime.footprint measures it in the image).
    assert lines[-2] == "ChargeOS memory of chargeos.service: no process in chargeos.service"
    assert "system NOT healthy" in lines[-1]
