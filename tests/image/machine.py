"""The built image as tests use it: build it once with `build.py image`, boot it in qemu, read
the serial console, the boot partition's grubenv and the partition table from the disk file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

from image.builder import qemu
from image.builder.layout import ALIGN
from runtime.boot import grubenv
from runtime.boot.scheme import GRUBENV
from tests.webui.stack import free_port

REPO = Path(__file__).resolve().parents[2]
BOARD = "qemu-x86_64"
PROFILE = REPO / "profiles" / "simulated.yaml"
BOOT_TIMEOUT_S = 300.0  # a first boot under TCG (argon2 hashing included) takes ~80 s here
READY = "evse available, system healthy"
EARLY_STALL_S = 120.0  # silence between GRUB and /init that counts as a hang (normally ~10 s)
# Silence after the kernel's "Restarting system" that counts as a hang: past the reboot watchdog
# (RebootWatchdogSec=60s, two stages of the i6300esb), which resets a kernel that hangs there.
REBOOT_STALL_S = 240.0
MAX_POWER_CYCLES = 2
SSH_PORT = 22  # debug SSH in the guest


@dataclass(frozen=True)
class BuiltImage:
    """The outputs of one `build.py image` run."""

    out_dir: Path
    cache_dir: Path
    keys_dir: Path
    image: Path
    squashfs: Path
    info: dict[str, object]
    log: str  # what build.py printed


def make_keys(keys_dir: Path) -> Path:
    """A development signing key for the images these tests build (`build.py keys`)."""
    subprocess.run(
        [sys.executable, "build.py", "keys", "--keys-dir", str(keys_dir)],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    return keys_dir


BUILD_TIMEOUT_S = 1800  # a clean-cache build under load (~150 s alone)


def build_command(out: Path, cache: Path, keys: Path, *extra: str) -> list[str]:
    """`build.py image` of the test board and profile, as a developer types it."""
    return [sys.executable, "build.py", "image", "--board", BOARD, "--profile", str(PROFILE),
            "--out", str(out), "--cache-dir", str(cache), "--keys-dir", str(keys),
            *extra]  # fmt: skip


def built_from(out: Path, cache: Path, keys: Path, log: str) -> BuiltImage:
    """What a finished `build.py image --out OUT` made."""
    out_dir = out / BOARD
    (image,) = out_dir.glob("*.img")
    info = json.loads((out_dir / "build-info.json").read_text())
    return BuiltImage(out_dir, cache, keys, image, out_dir / "rootfs.squashfs", info, log)


def build(
    out: Path, cache: Path, keys: Path, *extra: str, source_date_epoch: int | None = None
) -> BuiltImage:
    """Run `build.py image` like a developer does; fail with its output."""
    env = dict(os.environ)
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    result = subprocess.run(
        build_command(out, cache, keys, *extra),
        cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return built_from(out, cache, keys, result.stdout)


def read_boot_environment(image: Path) -> dict[str, str]:
    """GRUB's A/B environment, read from the boot partition of a (stopped) disk image."""
    copy = subprocess.run(
        ["mtype", "-i", f"{image}@@{ALIGN}", f"::{GRUBENV}"], capture_output=True, check=True
    )
    return grubenv.parse(copy.stdout, f"{image}:{GRUBENV}")


def write_boot_environment(image: Path, variables: dict[str, str], scratch: Path) -> None:
    """Replace GRUB's environment on the boot partition of a stopped disk image."""
    block = scratch / "grubenv"
    block.write_bytes(grubenv.render(variables))
    subprocess.run(
        ["mcopy", "-o", "-i", f"{image}@@{ALIGN}", str(block), f"::{GRUBENV}"], check=True
    )


@dataclass
class Boot:
    """A running guest."""

    machine: qemu.QemuMachine
    process: subprocess.Popen[bytes]
    https_port: int
    power_cycles: int = 0
    ssh_port: int | None = None  # the guest's port 22 on the host's loopback (forward_ssh)
    early_stall_s: float = EARLY_STALL_S
    reboot_stall_s: float = REBOOT_STALL_S

    @property
    def base_url(self) -> str:
        """The configurator through the forwarded port."""
        return f"https://127.0.0.1:{self.https_port}"

    def serial(self) -> str:
        """The serial console so far."""
        return self.machine.serial_log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, timeout_s: float = BOOT_TIMEOUT_S, *, after: int = 0) -> str:
        """Wait for `text` on the serial console (past character `after`); the log so far.

        A guest that hangs between GRUB and the kernel's /init (seen once in about 100 boots
        under TCG with 2 vCPUs), or whose machine never resets after the kernel asked for it
        (seen twice in one CI run), is power-cycled, as a board's hardware watchdog would, and
        given the whole timeout again; the cycle is written to the serial log and warned about.
        """
        while True:
            try:
                return qemu.wait_for_serial(
                    self.machine, self.process, text, timeout_s, after=after,
                    early_stall_s=self.early_stall_s, reboot_stall_s=self.reboot_stall_s,
                )  # fmt: skip
            except (qemu.EarlyBootStall, qemu.RebootStall) as stall:
                if self.power_cycles >= MAX_POWER_CYCLES:
                    raise
                self.power_cycle(str(stall).splitlines()[0])

    def power_cycle(self, reason: str) -> None:
        """Pull the plug and start the guest again on the same disk and console log."""
        self.power_cycles += 1
        self.process = qemu.power_cycle(self.machine, self.process, reason)
        warnings.warn(f"{self.machine.serial_log.name}: power-cycled the guest: {reason}",
                      stacklevel=3)  # fmt: skip

    def wait_until_off(self, timeout_s: float = 120) -> int:
        """Wait for qemu to end (a guest reboot ends it: -no-reboot); its exit status.

        A guest whose kernel asked for the reset but whose machine then stood still for
        `reboot_stall_s` has finished its reboot (everything synced and unmounted): qemu is
        stopped, said so in the log, and counted as a clean end (0).
        """
        started = time.monotonic()
        last_length, last_change = -1, started
        while True:
            code = self.process.poll()
            if code is not None:
                return code
            log = self.serial()
            if len(log) != last_length:
                last_length, last_change = len(log), time.monotonic()
            silent_s = time.monotonic() - last_change
            if qemu.stalled_in_reboot(log, silent_s, self.reboot_stall_s):
                self.power_cycles += 1
                qemu.stop(self.process)
                note = f"the machine did not reset {silent_s:.0f} s after the kernel asked"
                with self.machine.serial_log.open("a", encoding="utf-8") as serial:
                    serial.write(f"\n{qemu.POWER_CYCLED} {note}; qemu stopped]\n")
                warnings.warn(f"{self.machine.serial_log.name}: {note}", stacklevel=2)
                return 0
            waited_s = time.monotonic() - started
            # A reboot under way gets its stall limit beyond the timeout; nothing else does.
            if waited_s > timeout_s + (self.reboot_stall_s if qemu.rebooting(log) else 0):
                break
            time.sleep(0.5)
        raise subprocess.TimeoutExpired(self.machine.command(), timeout_s)


@contextmanager
def booted(
    built: BuiltImage, name: str, *, reboot_ends_qemu: bool = True, forward_ssh: bool = False
) -> Iterator[Boot]:
    """Boot the image (its disk keeps what the guest writes); always stop qemu afterwards.

    By default a guest reboot ends qemu (tests count boots); without, the guest reboots inside
    the same qemu and one serial log holds every boot. `forward_ssh` also forwards the guest's
    port 22 (debug SSH) to a free port of the host's loopback (Boot.ssh_port).
    """
    guest_port = int(built.info["webui"]["https_port"])  # type: ignore[index]
    host_port = free_port()
    forwards = [qemu.Forward(host_port, guest_port)]
    ssh_port = free_port() if forward_ssh else None
    if ssh_port is not None:
        forwards.append(qemu.Forward(ssh_port, SSH_PORT))
    machine = qemu.QemuMachine(
        image=built.image,
        serial_log=built.out_dir / f"serial-{name}.log",
        forwards=tuple(forwards),
        reboot_ends_qemu=reboot_ends_qemu,
    )
    process = qemu.start(machine)
    boot = Boot(machine, process, host_port, ssh_port=ssh_port)
    try:
        yield boot
    finally:
        qemu.stop(boot.process)


def sticker_from_serial(serial: str) -> dict[str, str]:
    """The logins the first boot printed on the console: {"installer": ..., "ev": ...}."""
    found = {}
    for role, label in (("installer", "Installer password"), ("ev", "EV password")):
        match = re.search(rf"{label}:\s+(\S+)", serial)
        assert match, f"no {label} on the serial console"
        found[role] = match.group(1)
    return found


def log_in(page: Page, boot: Boot, password: str, role: str = "installer") -> None:
    """Log in through the forwarded port with the login form; lands on General."""
    page.goto(f"{boot.base_url}/login")
    form = page.locator('form[action="/login"]')
    form.locator('select[name="user"]').select_option(role)
    form.locator('input[name="password"]').fill(password)
    form.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{boot.base_url}/general")
