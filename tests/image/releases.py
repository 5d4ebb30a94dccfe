"""Update zips for the qemu OTA tests, all signed with the test image's key: a real release
built by `build.py image --version`, the same system re-signed under another version (so it can
be installed again and again), and a broken release whose charging controller never starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from image.builder.signing import load_signing_key, signing_key_paths
from image.builder.update_zip import write_update_zip
from tests.image.machine import BuiltImage

BROKEN_EVSE = 'raise SystemExit("this release is broken on purpose: evse does not start")\n'


def signed(built: BuiltImage, squashfs: Path, version: str, output: Path) -> Path:
    """`squashfs` as update `version` (floor 0.1.0), signed with the image's key."""
    keys = [load_signing_key(path) for path in signing_key_paths(built.keys_dir)]
    fields = {
        "compatible": str(built.info["compatible"]),
        "version": version,
        "min_version": "0.1.0",
        "build": {"board": str(built.info["board"]), "test": True},
    }
    write_update_zip(output, fields, {"rootfs": squashfs}, keys)
    return output


def broken_release(built: BuiltImage, good_squashfs: Path, version: str, work: Path) -> Path:
    """A release whose evse exits at once (supervisord gives up on it: a crash loop)."""
    root = work / "broken-root"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(root), str(good_squashfs)], check=True)
    (package,) = root.glob("opt/chargeos/venv/lib/python3*/site-packages/runtime/evse")
    (package / "__main__.py").write_text(BROKEN_EVSE)
    for compiled in (package / "__pycache__").glob("__main__.*.pyc"):
        compiled.unlink()  # unchecked-hash bytecode would otherwise still run the old code
    system = root / "etc" / "chargeos" / "system.json"
    system.write_text(json.dumps({**json.loads(system.read_text()), "version": version}))
    squashfs = work / "broken.squashfs"
    squashfs.unlink(missing_ok=True)
    subprocess.run(["mksquashfs", str(root), str(squashfs), "-comp", "gzip", "-b", "128K",
                    "-no-progress", "-quiet", "-no-xattrs"], check=True)  # fmt: skip
    shutil.rmtree(root)
    return signed(built, squashfs, version, work / f"broken-{version}-update.zip")
