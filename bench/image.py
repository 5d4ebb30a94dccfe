#!/usr/bin/env python3
"""What the image costs: build time cold and warm, sizes, and boot time under TCG.

Prints:
  - `build.py image` wall time from an empty cache (mmdebstrap included) and with the cache warm,
    the warm build as a ratio to the cold one;
  - the disk image's size (apparent and allocated), rootfs.squashfs and what trimming saved;
  - the OTA update zip's size, and its install as a ratio to `dd` of the same bytes (bench/ota.py
    on the zip this build made);
  - boot time from kernel start to "evse available" (the guest's own uptime, printed by the
    health check), first boot and a later boot, as a ratio to the same Debian kernel booting a
    bare Debian minbase root filesystem to multi-user.target, in the same qemu settings
    (TCG, same memory and CPUs, direct kernel boot so firmware time is left out of both);
  - from inside the booted guest (the health check's memory line, a later boot): the RSS of
    every ChargeOS process, their sum, and the sum of their PSS.
Run as root from the repository root: `.venv/bin/python bench/image.py`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from image.builder import qemu  # noqa: E402
from runtime.config.loader import load_model  # noqa: E402
from schemas.image import Board  # noqa: E402

BOARD = "qemu-x86_64"
BOOT_TIMEOUT_S = 400.0
BARE_PACKAGES = "linux-image-amd64,initramfs-tools,systemd-sysv,udev"
# A unit that says when multi-user.target is reached, with the guest's uptime.
BARE_READY_UNIT = """[Unit]
Description=bench: multi-user reached
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/bin/sh -c 'echo "bare: multi-user reached, uptime $(cut -d" " -f1 /proc/uptime) s"'
[Install]
WantedBy=multi-user.target
"""
UPTIME = re.compile(r"uptime ([0-9.]+) s")
MEMORY = re.compile(r"ChargeOS memory of chargeos.service: (.*)$", re.MULTILINE)


def timed_build(out: Path, cache: Path, keys: Path) -> tuple[float, dict[str, object]]:
    """One `build.py image`; its wall time and build-info.json."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "build.py", "image", "--board", BOARD, "--out", str(out),
         "--cache-dir", str(cache), "--keys-dir", str(keys)],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    return elapsed, json.loads((out / BOARD / "build-info.json").read_text())


def extract_kernel(squashfs: Path, kernel: str, into: Path) -> tuple[Path, Path]:
    """/boot/vmlinuz-KERNEL and /boot/initrd.img-KERNEL of a slot image."""
    for name in ("vmlinuz", "initrd.img"):
        with (into / name).open("wb") as file:
            subprocess.run(["unsquashfs", "-cat", str(squashfs), f"boot/{name}-{kernel}"],
                           stdout=file, check=True)  # fmt: skip
    return into / "vmlinuz", into / "initrd.img"


def bare_minbase(work: Path) -> tuple[Path, Path, Path]:
    """A bare Debian minbase root (ext4 disk) with the same kernel package; its kernel, initrd."""
    root = work / "bare-root"
    subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--mode=root", f"--include={BARE_PACKAGES}",
         "--customize-hook=echo bare > \"$1/etc/hostname\"",
         "bookworm", str(root), "http://deb.debian.org/debian"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    unit = root / "etc/systemd/system/bench-ready.service"
    unit.write_text(BARE_READY_UNIT)
    (root / "etc/systemd/system/multi-user.target.wants/bench-ready.service").symlink_to(
        "/etc/systemd/system/bench-ready.service"
    )
    disk = work / "bare.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(root), str(disk), "2G"], check=True)
    (kernel,) = sorted((root / "boot").glob("vmlinuz-*"))
    (initrd,) = sorted((root / "boot").glob("initrd.img-*"))
    return disk, kernel, initrd


def boot_uptime(disk: Path, kernel: Path, initrd: Path, append: str, marker: str,
                log: Path, until: str | None = None) -> float:  # fmt: skip
    """Boot with direct kernel boot; the guest uptime printed with `marker` (the console is
    read on until `until`, when given)."""
    machine = qemu.QemuMachine(
        image=disk,
        serial_log=log,
        extra=("-kernel", str(kernel), "-initrd", str(initrd), "-append", append),
    )
    process = qemu.start(machine)
    try:
        serial = qemu.wait_for_serial(machine, process, until or marker, BOOT_TIMEOUT_S)
    finally:
        qemu.stop(process)
    line = next(line for line in serial.splitlines() if marker in line)
    found = UPTIME.search(line)
    assert found, line
    return float(found.group(1))


def main() -> int:
    """Build cold and warm, boot ChargeOS twice and a bare minbase once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the logs and build-info.json here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chargeos-bench-image-"))
    try:
        keys = work / "keys"
        subprocess.run([sys.executable, "build.py", "keys", "--keys-dir", str(keys)], cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        cold_s, info = timed_build(work / "out-cold", work / "cache", keys)
        warm_s, _ = timed_build(work / "out-warm", work / "cache", keys)
        outputs = info["outputs"]
        assert isinstance(outputs, dict)
        image_name = next(name for name in outputs if name.endswith(".img"))
        trim = info["trim"]
        assert isinstance(trim, dict)
        print(f"build cold (empty cache): {cold_s:6.1f} s")
        print(f"build warm (base cached): {warm_s:6.1f} s   = {warm_s / cold_s:.2f}x cold")
        image = outputs[image_name]
        print(f"disk image {image_name}: {image['bytes'] / 2**20:.0f} MiB apparent, "
              f"{image['allocated_bytes'] / 2**20:.0f} MiB allocated")  # fmt: skip
        print(f"rootfs.squashfs: {outputs['rootfs.squashfs']['bytes'] / 2**20:.1f} MiB")
        update_zip = next(name for name in outputs if name.endswith("-update.zip"))
        print(f"OTA update zip {update_zip}: {outputs[update_zip]['bytes'] / 2**20:.1f} MiB")
        mib = {key: value / 2**20 for key, value in trim.items()}
        print(f"trimmed: {mib['before_bytes']:.0f} MiB -> {mib['after_bytes']:.0f} MiB "
              f"(kernel modules {mib['kernel_modules_bytes']:.0f} MiB, "
              f"docs/man/locales {mib['hooks_bytes']:.0f} MiB)")  # fmt: skip

        out = work / "out-warm" / BOARD
        kernel, initrd = extract_kernel(out / "rootfs.squashfs", str(info["kernel"]), work)
        board = load_model(REPO / "image" / "boards" / BOARD / "board.yaml", Board)
        append = board.kernel_cmdline.replace("@SLOT@", "rootfs-a") + " chargeos.slot=A"
        disk = next(out.glob("*.img"))
        ready = "evse available"
        first = boot_uptime(disk, kernel, initrd, append, ready, work / "boot-first.log")
        later = boot_uptime(disk, kernel, initrd, append, ready, work / "boot-later.log",
                            until="ChargeOS memory of")  # fmt: skip
        memory = MEMORY.search((work / "boot-later.log").read_text(errors="replace"))
        bare_disk, bare_kernel, bare_initrd = bare_minbase(work)
        same_kernel = bare_kernel.read_bytes() == kernel.read_bytes()
        bare = boot_uptime(bare_disk, bare_kernel, bare_initrd,
                           "console=ttyS0,115200 root=/dev/vda rw quiet", "multi-user reached",
                           work / "boot-bare.log")  # fmt: skip
        print(f"boot, kernel start -> evse available: first boot {first:.1f} s "
              f"({first / bare:.2f}x bare), later boot {later:.1f} s "
              f"({later / bare:.2f}x bare)")  # fmt: skip
        print(
            f"bare Debian minbase, kernel start -> multi-user: {bare:.1f} s "
            f"(same kernel binary: {'yes' if same_kernel else 'no'})"
        )
        print(f"memory in the guest (later boot): {memory.group(1) if memory else 'not printed'}")
        ota = subprocess.run(
            [sys.executable, "bench/ota.py", "--zip", str(out / update_zip),
             "--keys-dir", str(keys)],
            cwd=REPO, check=True, capture_output=True, text=True,
        )  # fmt: skip
        print("OTA install of this zip (bench/ota.py):", *ota.stdout.splitlines(), sep="\n  ")
    finally:
        if args.keep:  # logs and build descriptions only: a root filesystem holds /dev nodes
            for log in (*work.glob("*.log"), *work.glob("out-*/*/build*")):
                target = args.keep / log.relative_to(work)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, target)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
