"""`make run`: start ChargeOS on this machine with simulated hardware under supervisord.

Prepares a data directory the way first boot prepares the data partition (active profile,
device secrets), prints the sticker with the logins, writes a supervisord configuration from
the program table and replaces itself with supervisord in the foreground.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.config.atomic import atomic_write_text
from runtime.config.device_secrets import provision_device_secrets
from runtime.config.errors import ProfileInvalid
from runtime.config.loader import load_profile
from runtime.programs import Program, programs_for

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = REPO / "profiles" / "simulated.yaml"


def prepare_data_dir(data_dir: Path, profile_template: Path) -> Path:
    """Create the data directory and its active profile (copied once from the template)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("log", "run"):
        (data_dir / sub).mkdir(exist_ok=True)
    active = data_dir / "profile.yaml"
    if not active.exists():
        atomic_write_text(active, profile_template.read_text(encoding="utf-8"))
    return active


def supervisord_conf(data_dir: Path, programs: Sequence[Program], python: str) -> str:
    """The supervisord configuration for the development runner."""
    run, log = data_dir / "run", data_dir / "log"
    lines = [
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={log / 'supervisord.log'}",
        f"pidfile={run / 'supervisord.pid'}",
        f"childlogdir={log}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
    ]
    for program in programs:
        lines += [
            "",
            f"[program:{program.name}]",
            f"command={_command(python, program, data_dir)}",
            f"directory={REPO}",
            f"autostart={'true' if program.autostart else 'false'}",
            f"priority={program.priority}",
            "autorestart=true",
            "startsecs=1",
            "stopasgroup=true",
            "killasgroup=true",
            f"stdout_logfile={log / (program.name + '.log')}",
            "stdout_logfile_maxbytes=5MB",
            "stdout_logfile_backups=3",
            "redirect_stderr=true",
        ]
    return "\n".join(lines) + "\n"


def _command(python: str, program: Program, data_dir: Path) -> str:
    return f"{python} -m {program.module} --data-dir {data_dir} {program.arguments}".rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the data directory, print the sticker and exec supervisord."""
    parser = argparse.ArgumentParser(prog="python -m runtime.devrun", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "data")
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--no-exec", action="store_true", help="prepare only, do not start")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()

    active = prepare_data_dir(data_dir, args.profile)
    try:
        profile = load_profile(active).profile
    except ProfileInvalid as invalid:
        print(f"the active profile {active} is invalid:", file=sys.stderr)
        print(invalid, file=sys.stderr)
        return 1
    provisioned = provision_device_secrets(data_dir, profile.station.identity_prefix)
    print(provisioned.sticker_path.read_text(encoding="utf-8"))
    print(f"data directory: {data_dir}  (active profile: {active})")
    host = (
        "localhost"
        if str(profile.webui.bind_address) in ("127.0.0.1", "0.0.0.0")
        else (str(profile.webui.bind_address))
    )
    print(f"web configurator: https://{host}:{profile.webui.https_port}  (self-signed per device)")

    conf = data_dir / "run" / "supervisord.conf"
    programs = programs_for(profile.hardware.simulated)
    atomic_write_text(conf, supervisord_conf(data_dir, programs, sys.executable))
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
