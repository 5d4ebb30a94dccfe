#!/usr/bin/env python3
"""What an OTA install costs: the installer's time against `dd` writing the same bytes.

Builds (or takes) a real update zip, then in the same run and on the same disk:
  - `dd if=rootfs.squashfs of=SLOT bs=1M conv=fsync` into a slot file (the bare write);
  - `install_update` into the same kind of slot file: verify (signature, structure, SHA-256),
    mark bad, stream while hashing, fsync, read back and hash again, status, activation.
Prints the install time as a ratio to dd (median of --rounds), and the zip's size.
Run from the repository root: `.venv/bin/python bench/ota.py [--zip out/<board>/<name>-update.zip]`.
Without --zip it packs a 96 MiB random payload (incompressible, like a squashfs).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from image.builder.signing import create_signing_key, load_signing_key  # noqa: E402
from image.builder.update_zip import write_update_zip  # noqa: E402
from runtime.boot import grubenv  # noqa: E402
from runtime.boot.scheme import initial_environment  # noqa: E402
from runtime.boot.slots import SlotSet  # noqa: E402
from runtime.update.install import install_update  # noqa: E402
from runtime.update.keys import key_id  # noqa: E402
from runtime.update.manifest import UpdateManifest  # noqa: E402
from runtime.update.system import RunningSystem  # noqa: E402


def packed_zip(work: Path) -> tuple[Path, RunningSystem]:
    """A signed update of a random payload, and a system that trusts its key."""
    private, _ = create_signing_key(work / "keys")
    key = load_signing_key(private)
    payload = work / "rootfs.squashfs"
    with payload.open("wb") as file:
        generator = random.Random(5)
        for _ in range(96):
            file.write(generator.randbytes(1024 * 1024))
    fields = {"compatible": "chargeos,bench", "version": "0.2.0", "min_version": "0.1.0",
              "build": {}}  # fmt: skip
    path = work / "update.zip"
    write_update_zip(path, fields, {"rootfs": payload}, [key])
    public = key.public_key()
    system = RunningSystem("chargeos,bench", "0.1.0", "0.1.0", {key_id(public): public})
    return path, system


def given_zip(path: Path, work: Path, keys_dir: Path | None = None) -> tuple[Path, RunningSystem]:
    """A built update zip and a system that would take it (trusting the keys of `keys_dir`,
    by default the developer's keys the build uses)."""
    from image.builder.signing import default_keys_dir
    from runtime.update.keys import load_keyring

    with zipfile.ZipFile(path) as archive:
        manifest = UpdateManifest.model_validate_json(archive.read("manifest.json"))
    keyring = load_keyring(keys_dir or default_keys_dir())
    system = RunningSystem(manifest.compatible, "0.0.1", "0.0.0", keyring)
    return path, system


def slots_in(folder: Path, size: int) -> SlotSet:
    """Two slot files of `size` bytes booted from A, with GRUB's environment."""
    folder.mkdir(parents=True)
    for name in ("rootfs-a", "rootfs-b"):
        with (folder / name).open("wb") as file:
            file.truncate(size)
    grubenv.create(folder / "grubenv", initial_environment())
    (folder / "cmdline").write_text("chargeos.slot=A\n")
    (folder / "mounts").write_text("")
    return SlotSet({"A": folder / "rootfs-a", "B": folder / "rootfs-b"}, folder / "grubenv",
                   folder / "cmdline", folder / "mounts")  # fmt: skip


def main() -> int:
    """Time dd and the installer alternately; print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, help="a built update zip (default: pack one)")
    parser.add_argument("--keys-dir", type=Path, help="the keys the zip was signed with")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chargeos-bench-ota-"))
    try:
        update, system = given_zip(args.zip, work, args.keys_dir) if args.zip else packed_zip(work)
        with zipfile.ZipFile(update) as archive:
            manifest = UpdateManifest.model_validate_json(archive.read("manifest.json"))
            payload_size = manifest.payloads[0].size
            payload = work / "payload.bin"
            with archive.open(manifest.payloads[0].file) as source, payload.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
        dd_times, install_times = [], []
        for round_number in range(args.rounds):
            slots = slots_in(work / f"dd-{round_number}", payload_size + 1024 * 1024)
            started = time.monotonic()
            subprocess.run(["dd", f"if={payload}", f"of={slots.devices['B']}", "bs=1M",
                            "conv=fsync,notrunc", "status=none"], check=True)  # fmt: skip
            dd_times.append(time.monotonic() - started)
            slots = slots_in(work / f"install-{round_number}", payload_size + 1024 * 1024)
            started = time.monotonic()
            install_update(update, system, slots, work / f"state-{round_number}")
            install_times.append(time.monotonic() - started)
        dd_s, install_s = statistics.median(dd_times), statistics.median(install_times)
        print(
            f"payload {payload_size / 2**20:.1f} MiB, zip {update.stat().st_size / 2**20:.1f} MiB"
        )
        print(f"dd of the payload (median of {args.rounds}): {dd_s:.2f} s")
        print(f"install_update (verify, write, read back, activate): {install_s:.2f} s"
              f" = {install_s / dd_s:.2f}x dd")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
