"""Boot a built image in qemu-system-x86_64 under TCG, UEFI (OVMF) firmware, serial console to
a log file, and the web configurator forwarded to the host's loopback only.

`restrict=on` keeps the guest from reaching anything but the forwarded ports: nothing it does
leaves this machine. The disk is used in place, so state written by the guest (the data
partition, the A/B environment) survives to the next boot as on a real charger.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
GRUB_HANDOVER = "ChargeOS: booting slot"  # GRUB's last line before the kernel
USERSPACE_STARTED = "Run /init as init process"  # the kernel's line when it starts the initramfs
POWER_CYCLED = "[power cycle:"  # what power_cycle writes into the console log
REBOOTING = "reboot: Restarting system"  # the kernel's last line before it resets the machine


@dataclass(frozen=True)
class Forward:
    """One TCP port of the guest reachable on the host's loopback."""

    host_port: int
    guest_port: int


@dataclass(frozen=True)
class QemuMachine:
    """How to boot one disk image."""

    image: Path
    serial_log: Path
    forwards: tuple[Forward, ...] = ()
    memory_mb: int = 1024
    cpus: int = 2
    firmware_vars: Path | None = None  # per-VM copy of OVMF_VARS; made beside the log if None
    reboot_ends_qemu: bool = False  # -no-reboot: a guest reboot ends qemu (tests count boots)
    extra: tuple[str, ...] = field(default=())

    def vars_file(self) -> Path:
        """The VM's own UEFI variable store."""
        return self.firmware_vars or self.serial_log.with_name("OVMF_VARS.fd")

    def command(self) -> list[str]:
        """The qemu command line."""
        forwards = "".join(
            f",hostfwd=tcp:127.0.0.1:{f.host_port}-:{f.guest_port}" for f in self.forwards
        )
        command = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            str(self.memory_mb),
            "-smp",
            str(self.cpus),
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={self.vars_file()}",
            "-drive",
            f"file={self.image},format=raw,if=virtio,cache=unsafe",
            "-netdev",
            f"user,id=n0,restrict=on{forwards}",
            "-device",
            "virtio-net-pci,netdev=n0",
            "-device",
            "virtio-rng-pci",
            # The board's hardware watchdog: systemd arms it, so a hung system (or a reboot that
            # hangs in the kernel) is reset by it. With -no-reboot that reset ends qemu too.
            "-device",
            "i6300esb",
            "-action",
            "watchdog=reset",
            "-display",
            "none",
            "-monitor",
            "none",
            # Appending: a power cycle (a new qemu) continues the same console log.
            "-chardev",
            f"file,id=console,path={str(self.serial_log).replace(',', ',,')},append=on",
            "-serial",
            "chardev:console",
        ]
        if self.reboot_ends_qemu:
            command.append("-no-reboot")
        return [*command, *self.extra]


def prepare(machine: QemuMachine) -> None:
    """The per-VM firmware variables and an empty serial log."""
    machine.serial_log.parent.mkdir(parents=True, exist_ok=True)
    if not machine.vars_file().exists():
        shutil.copyfile(OVMF_VARS, machine.vars_file())
    machine.serial_log.write_bytes(b"")


def start(machine: QemuMachine) -> subprocess.Popen[bytes]:
    """Start qemu in the background with an empty serial log (the caller stops it)."""
    prepare(machine)
    return power_on(machine)


def power_on(machine: QemuMachine) -> subprocess.Popen[bytes]:
    """Start qemu on the machine as it is: its disk, firmware variables and serial log kept."""
    return subprocess.Popen(machine.command(), stdin=subprocess.DEVNULL)


def power_cycle(
    machine: QemuMachine, process: subprocess.Popen[bytes], reason: str
) -> subprocess.Popen[bytes]:
    """Pull the plug and power on again; the console log says so where it happened."""
    stop(process)
    with machine.serial_log.open("a", encoding="utf-8") as log:
        log.write(f"\n{POWER_CYCLED} {reason}]\n")
    return power_on(machine)


class EarlyBootStall(TimeoutError):
    """The guest went silent between GRUB handing over and the kernel starting its initramfs:
    an emulator or firmware hang that a board's hardware watchdog would reset."""


class RebootStall(TimeoutError):
    """The guest's kernel asked for the reset and the machine never reset (seen under TCG with
    2 vCPUs): everything was already synced and unmounted, so pulling the plug loses nothing."""


def rebooting(log: str) -> bool:
    """Whether the last boot in `log` has reached the kernel's reboot."""
    last_boot = max(log.rfind(GRUB_HANDOVER), log.rfind(POWER_CYCLED))
    return REBOOTING in log[max(last_boot, 0) :]


def stalled_in_reboot(log: str, silent_s: float, limit_s: float) -> bool:
    """Whether the last boot in `log` ended in the kernel's reboot and has been silent since for
    `limit_s` (longer than the board's reboot watchdog, which resets a kernel that hangs there)."""
    return silent_s >= limit_s and rebooting(log)


def stalled_before_userspace(log: str, silent_s: float, limit_s: float) -> bool:
    """Whether the last boot in `log` has been silent for `limit_s` after GRUB's hand-over and
    before the kernel ran /init (the kernel prints steadily there unless it hangs)."""
    handover = log.rfind(GRUB_HANDOVER)
    if handover < 0 or silent_s < limit_s:
        return False
    since = log[handover:]
    return USERSPACE_STARTED not in since and POWER_CYCLED not in since


def wait_for_serial(
    machine: QemuMachine,
    process: subprocess.Popen[bytes],
    text: str,
    timeout_s: float,
    *,
    after: int = 0,
    early_stall_s: float | None = None,
    reboot_stall_s: float | None = None,
) -> str:
    """Wait until `text` appears in the serial log (after byte `after`); return the log so far.

    With `early_stall_s`, raise `EarlyBootStall` as soon as a boot has been silent that long
    between GRUB and the kernel's /init (needs a kernel command line without `quiet`); with
    `reboot_stall_s`, raise `RebootStall` once a reboot has been silent that long.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    last_change, last_length = started, -1
    while time.monotonic() < deadline:
        log = machine.serial_log.read_text(encoding="utf-8", errors="replace")
        if text in log[after:]:
            return log
        if process.poll() is not None:
            raise RuntimeError(
                f"qemu ended (exit {process.returncode}) before {text!r}:\n{log[-3000:]}"
            )
        if len(log) != last_length:
            last_change, last_length = time.monotonic(), len(log)
        silent_s = time.monotonic() - last_change
        if early_stall_s is not None and stalled_before_userspace(log, silent_s, early_stall_s):
            raise EarlyBootStall(
                f"the guest has been silent for {silent_s:.0f} s after GRUB handed over and "
                f"before the kernel started /init:\n{log[-3000:]}"
            )
        if reboot_stall_s is not None and stalled_in_reboot(log, silent_s, reboot_stall_s):
            raise RebootStall(
                f"the guest has been silent for {silent_s:.0f} s since its kernel asked for the "
                f"reset:\n{log[-3000:]}"
            )
        time.sleep(0.5)
    log = machine.serial_log.read_text(encoding="utf-8", errors="replace")
    silent_s = time.monotonic() - last_change
    raise TimeoutError(
        f"no {text!r} on the serial console after {timeout_s:.0f} s; the console has been "
        f"silent for the last {silent_s:.0f} s:\n{log[-3000:]}"
    )


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """End qemu (like pulling the plug) and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=timeout_s)
