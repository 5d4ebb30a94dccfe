"""The supervisord programs of ChargeOS, as one description table, and their configuration.

Both the development runner (`make run`) and the image render their supervisord configuration
from this table with `supervisord_conf`, so the Admin page and the health check see the same
names everywhere. A program is listed here only once the service it runs exists.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.evse.iec61851 import FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S

LOG_MAX_BYTES = "5MB"  # per log file, supervisord's own included; 4 files at most per program
LOG_BACKUPS = 3
FACTORY_PROFILE = "{factory_profile}"  # placeholder in Program.arguments
STOP_WAIT_S = 10  # supervisord's default: SIGTERM, then SIGKILL after this long
# evse stops by turning the PWM off and giving the car up to 6 s to stop drawing (IEC 61851-1
# Table A.6 seq. 10.2) before it opens the contactor; then it records the stop (and retries
# unwritten billing data once). A SIGKILL inside that would lose the stop record.
EVSE_STOP_WAIT_S = int(FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S) + 9
# Charging comes first at boot: a program marked `after_evse` waits for evse's start, but never
# longer than this (a first boot under TCG starts evse in ~40 s; a broken evse never starts, and
# the configurator must still come up to show why).
AFTER_EVSE_WITHIN_S = 60
START_S = 1  # supervisord's startsecs: a program that ran this long has started
# evse has started once it announced it (run/evse.started): under 1 s on the board, ~14 s at a
# cold boot under TCG. A run shorter than this counts as a failed start, so a release whose evse
# dies while it imports or opens its devices is given up on (FATAL) after supervisord's three
# retries, within ~15 s, and the health check's verdict is final at once; with 1 s, runs of
# 0.5-1.7 s under TCG counted as starts in turn and FATAL took 20 s or never came.
EVSE_START_S = 10


@dataclass(frozen=True)
class Program:
    """One supervisord program: a Python module run with the data directory."""

    name: str
    module: str
    description: str
    autostart: bool = True
    simulation_only: bool = False
    priority: int = 500  # supervisord starts lower numbers first
    arguments: str = ""  # after --data-dir, e.g. a subcommand; may hold {factory_profile}
    stop_wait_s: int = STOP_WAIT_S  # from SIGTERM to SIGKILL
    after_evse: bool = False  # starts once evse has started (runtime.after_evse), or after a bound
    heartbeat: bool = False  # beats to runtime.watchdog, which restarts it when it goes silent
    start_s: int = START_S  # supervisord's startsecs: shorter runs are failed starts


PROGRAMS: tuple[Program, ...] = (
    Program(
        "sim",
        "runtime.sim",
        "simulated power board, meters, car and I2C chips",
        simulation_only=True,
        priority=100,
        arguments="serve",
        heartbeat=True,
    ),
    Program(
        "evse",
        "runtime.evse",
        "charging controller",
        priority=200,
        stop_wait_s=EVSE_STOP_WAIT_S,
        heartbeat=True,
        start_s=EVSE_START_S,
    ),
    Program(
        "webapp",
        "webui",
        "web configurator",
        priority=300,
        arguments=f"--default-profile {FACTORY_PROFILE}",  # what a factory reset restores
        after_evse=True,
        heartbeat=True,
    ),
    Program(
        "watchdog",
        "runtime.watchdog",
        "restarts a hung service; systemd restarts everything if it or supervisord hangs",
        priority=400,
        after_evse=True,  # charging first; chargeos.service's WatchdogSec allows for the wait
    ),
)


@dataclass(frozen=True)
class SupervisorLayout:
    """Where supervisord and its programs run: `make run`'s var/data, or the device's /data."""

    data_dir: Path
    python: str
    working_dir: Path
    factory_profile: Path  # the profile the device was built with (`make run`: its --profile)
    user: str | None = None  # the programs' user; None: supervisord's own


def programs_for(simulated: bool) -> tuple[Program, ...]:
    """The programs a charger runs: the simulation only on simulated hardware."""
    return tuple(p for p in PROGRAMS if simulated or not p.simulation_only)


def supervisord_conf(layout: SupervisorLayout, programs: Sequence[Program]) -> str:
    """The supervisord configuration: socket in data_dir/run, rotated logs in data_dir/log."""
    run, log = layout.data_dir / "run", layout.data_dir / "log"
    lines = [
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        *([f"chown={layout.user}"] if layout.user else []),  # the webapp's Service Control
        "",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={log / 'supervisord.log'}",
        f"logfile_maxbytes={LOG_MAX_BYTES}",
        f"logfile_backups={LOG_BACKUPS}",
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
        lines += ["", *_program_section(layout, program)]
    return "\n".join(lines) + "\n"


def _program_section(layout: SupervisorLayout, program: Program) -> list[str]:
    log = layout.data_dir / "log"
    return [
        f"[program:{program.name}]",
        f"command={command(layout, program)}",
        f"directory={layout.working_dir}",
        *([f"user={layout.user}"] if layout.user else []),
        f"autostart={'true' if program.autostart else 'false'}",
        f"priority={program.priority}",
        "autorestart=true",
        f"startsecs={program.start_s}",
        f"stopwaitsecs={program.stop_wait_s}",
        "stopasgroup=true",
        "killasgroup=true",
        f"stdout_logfile={log / (program.name + '.log')}",
        f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
        f"stdout_logfile_backups={LOG_BACKUPS}",
        "redirect_stderr=true",
    ]


def command(layout: SupervisorLayout, program: Program) -> str:
    """The program's command line, with {factory_profile} filled in."""
    arguments = program.arguments.replace(FACTORY_PROFILE, shlex.quote(str(layout.factory_profile)))
    base = [layout.python, "-m", program.module, "--data-dir", str(layout.data_dir)]
    if program.after_evse:
        wait = ["-m", "runtime.after_evse", "--data-dir", str(layout.data_dir),
                "--within", str(AFTER_EVSE_WITHIN_S), "--"]  # fmt: skip
        base = [layout.python, *wait, *base[2:]]
    return f"{shlex.join(base)} {arguments}".rstrip()
