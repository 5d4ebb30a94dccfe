"""`make run`: start ChargeOS on this machine with simulated hardware under supervisord.

Prepares a data directory with first boot's own routine (runtime.firstboot: active profile,
device secrets, TLS certificate), prints the sticker with the logins, writes a supervisord
configuration from the program table and replaces itself with supervisord in the foreground.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.config.atomic import atomic_write_text
from runtime.firstboot import prepare_device, report_invalid_profile
from runtime.programs import SupervisorLayout, programs_for, supervisord_conf

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROFILE = REPO / "profiles" / "simulated.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the data directory, print the sticker and exec supervisord."""
    parser = argparse.ArgumentParser(prog="python -m image.builder.devrun", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "data")
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--no-exec", action="store_true", help="prepare only, do not start")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()

    factory_profile: Path = args.profile.resolve()
    boot = prepare_device(data_dir, factory_profile)
    if boot.profile is None:
        report_invalid_profile(boot)
        return 1
    profile = boot.profile
    print(boot.sticker_path.read_text(encoding="utf-8"))
    print(f"data directory: {data_dir}  (active profile: {boot.profile_path})")
    host = (
        "localhost"
        if str(profile.webui.bind_address) in ("127.0.0.1", "0.0.0.0")
        else (str(profile.webui.bind_address))
    )
    print(f"web configurator: https://{host}:{profile.webui.https_port}  (self-signed per device)")

    conf = data_dir / "run" / "supervisord.conf"
    programs = programs_for(profile.hardware.simulated)
    layout = SupervisorLayout(data_dir, sys.executable, REPO, factory_profile)
    atomic_write_text(conf, supervisord_conf(layout, programs))
    if args.no_exec:
        return 0
    supervisord = shutil.which("supervisord", path=str(Path(sys.executable).parent))
    if supervisord is None:
        print("supervisord is not installed in this environment", file=sys.stderr)
        return 1
    names = ", ".join(program.name for program in programs)
    print(f"starting supervisord: {names}; Ctrl-C stops everything")
    sys.stdout.flush()
    os.execv(supervisord, [supervisord, "-n", "-c", str(conf)])


if __name__ == "__main__":
    sys.exit(main())
