"""The qemu runner the image tests and `build.py run` share: its console log survives a power
cycle, a guest that hangs between GRUB and the kernel's /init is told apart from a slow one, and
a machine that never resets after its kernel asked is told apart from a guest still shutting down.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from image.builder import qemu
from tests.image.machine import MAX_POWER_CYCLES, Boot

HANDOVER = "ChargeOS: booting slot A (rootfs-a), try 1\n"
KERNEL = "[    0.000000] Linux version 6.1.0-50-amd64\n"
INIT = "[    5.335568] Run /init as init process\n"
REBOOT = "[   56.935821] reboot: Restarting system\n[   56.935948] reboot: machine restart\n"


@pytest.mark.parametrize(
    ("log", "silent_s", "stalled"),
    [
        (HANDOVER, 130, True),
        (HANDOVER + KERNEL, 130, True),
        (HANDOVER + KERNEL, 60, False),  # not silent long enough
        (HANDOVER + KERNEL + INIT, 600, False),  # past /init: slow userspace is not a stall
        ("BdsDxe: loading Boot0002\n", 600, False),  # GRUB has not handed over yet
        (HANDOVER + KERNEL + INIT + HANDOVER, 130, True),  # the last boot of a reboot counts
        (HANDOVER + "\n[power cycle: hung]\n", 130, False),  # the firmware starts again
    ],
)
def test_a_stall_is_silence_between_grub_and_init(log: str, silent_s: float, stalled: bool) -> None:
    assert qemu.stalled_before_userspace(log, silent_s, 120) is stalled


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process standing in for qemu: alive until the test ends."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        qemu.stop(process)


def test_waiting_gives_up_early_on_a_silent_guest_and_says_where(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER + KERNEL)
    with pytest.raises(qemu.EarlyBootStall, match="before the kernel started /init"):
        qemu.wait_for_serial(machine, sleeper, "login:", timeout_s=30, early_stall_s=1)


def test_a_silent_guest_past_init_is_waited_for_until_the_timeout(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER + KERNEL + INIT)
    with pytest.raises(TimeoutError, match="silent for the last") as raised:
        qemu.wait_for_serial(machine, sleeper, "login:", timeout_s=2, early_stall_s=1)
    assert not isinstance(raised.value, qemu.EarlyBootStall)


def test_a_power_cycle_continues_the_console_log(tmp_path: Path) -> None:
    disk = tmp_path / "empty.img"
    disk.write_bytes(bytes(1 << 20))
    machine = qemu.QemuMachine(image=disk, serial_log=tmp_path / "serial, with comma.log")
    firmware_line = "BdsDxe:"  # OVMF looks for something to boot on the serial console
    process = qemu.start(machine)
    try:
        first = qemu.wait_for_serial(machine, process, firmware_line, timeout_s=120)
    finally:
        qemu.stop(process)
    process = qemu.power_on(machine)
    try:
        qemu.wait_for_serial(machine, process, firmware_line, timeout_s=120, after=len(first))
    finally:
        qemu.stop(process)
    assert machine.serial_log.read_text(errors="replace").startswith(first)


def test_a_guest_stalled_before_init_is_power_cycled_once_and_the_wait_goes_on(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    disk = tmp_path / "empty.img"
    disk.write_bytes(bytes(1 << 20))
    machine = qemu.QemuMachine(image=disk, serial_log=tmp_path / "serial.log")
    qemu.prepare(machine)
    machine.serial_log.write_text(HANDOVER + KERNEL)  # and then nothing: the sleeper is silent
    boot = Boot(machine, sleeper, https_port=0, early_stall_s=1)
    try:
        with pytest.warns(UserWarning, match="power-cycled the guest"):
            log = boot.wait_for("BdsDxe:", timeout_s=120)  # the real qemu after the cycle
    finally:
        qemu.stop(boot.process)
    assert boot.power_cycles == 1
    assert boot.process is not sleeper and sleeper.poll() is not None
    assert log.startswith(HANDOVER + KERNEL + "\n[power cycle: the guest has been silent")


def test_a_second_stall_fails_the_wait(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER)
    boot = Boot(machine, sleeper, https_port=0, power_cycles=MAX_POWER_CYCLES, early_stall_s=1)
    with pytest.raises(qemu.EarlyBootStall):
        boot.wait_for("login:", timeout_s=30)
    assert boot.process is sleeper


@pytest.mark.parametrize(
    ("log", "silent_s", "stalled"),
    [
        (HANDOVER + KERNEL + INIT + REBOOT, 250, True),
        (HANDOVER + KERNEL + INIT + REBOOT, 100, False),  # the reboot watchdog may still act
        (HANDOVER + KERNEL + INIT, 600, False),  # no reboot asked for
        (HANDOVER + KERNEL + INIT + REBOOT + HANDOVER, 250, False),  # it did reset: a new boot
        (REBOOT + "\n[power cycle: did not reset]\n", 250, False),  # already pulled
    ],
)
def test_a_reboot_stall_is_silence_after_the_kernel_asked_for_the_reset(
    log: str, silent_s: float, stalled: bool
) -> None:
    assert qemu.stalled_in_reboot(log, silent_s, 240) is stalled


def test_a_reboot_that_never_resets_the_machine_is_waited_out_and_powered_off(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER + KERNEL + INIT + REBOOT)
    boot = Boot(machine, sleeper, https_port=0, reboot_stall_s=1)
    with pytest.warns(UserWarning, match="did not reset"):
        assert boot.wait_until_off(timeout_s=30) == 0
    assert sleeper.poll() is not None  # qemu stopped
    assert "[power cycle: the machine did not reset" in boot.serial()


def test_a_reboot_stall_while_waiting_for_a_boot_power_cycles_the_guest(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER + KERNEL + INIT + REBOOT)
    boot = Boot(machine, sleeper, https_port=0, power_cycles=MAX_POWER_CYCLES, reboot_stall_s=1)
    with pytest.raises(qemu.RebootStall, match="since its kernel asked for the reset"):
        boot.wait_for("login:", timeout_s=30)  # no cycle left: the stall is the failure


def test_a_guest_that_never_reboots_is_not_waited_for_beyond_the_timeout(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    machine = qemu.QemuMachine(image=tmp_path / "disk.img", serial_log=tmp_path / "serial.log")
    machine.serial_log.write_text(HANDOVER + KERNEL + INIT)
    boot = Boot(machine, sleeper, https_port=0, reboot_stall_s=600)
    with pytest.raises(subprocess.TimeoutExpired):
        boot.wait_until_off(timeout_s=1)
    assert sleeper.poll() is None
