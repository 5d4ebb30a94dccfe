"""The program table rendered for supervisord: `make run`'s layout and the image's /data layout."""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import http.client
import os
import pwd
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from supervisor.xmlrpc import SupervisorTransport

from runtime.evse.iec61851 import FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S
from runtime.programs import PROGRAMS, Program, SupervisorLayout, programs_for, supervisord_conf

REPO = Path(__file__).resolve().parents[2]
SUPERVISORD = Path(sys.executable).parent / "supervisord"
START_TIMEOUT_S = 20.0

IMAGE = SupervisorLayout(
    data_dir=Path("/data"),
    python="/opt/chargeos/bin/python3",
    working_dir=Path("/opt/chargeos"),
    factory_profile=Path("/usr/share/chargeos/factory-profile.yaml"),
    user="chargeos",
)


def parsed(text: str) -> configparser.ConfigParser:
    """The configuration as sections (supervisord's own format is INI)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_each_program_runs_with_the_data_dir_and_logs_in_its_rotated_file(tmp_path: Path) -> None:
    layout = SupervisorLayout(tmp_path, "/usr/bin/python3", REPO, tmp_path / "factory.yaml")
    programs = (Program("evse", "runtime.evse", "charging controller"),)
    conf = parsed(supervisord_conf(layout, programs))
    section = conf["program:evse"]
    assert section["command"] == f"/usr/bin/python3 -m runtime.evse --data-dir {tmp_path}"
    assert section["directory"] == str(REPO)
    assert section["stdout_logfile"] == str(tmp_path / "log" / "evse.log")
    assert (section["stdout_logfile_maxbytes"], section["stdout_logfile_backups"]) == ("5MB", "3")
    assert "user" not in section
    assert conf["unix_http_server"]["file"] == str(tmp_path / "run" / "supervisor.sock")
    assert "chown" not in conf["unix_http_server"]
    assert "rpcinterface:supervisor" in conf


def test_supervisords_own_log_rotates_like_the_programs() -> None:
    own = parsed(supervisord_conf(IMAGE, PROGRAMS))["supervisord"]
    assert own["logfile"] == "/data/log/supervisord.log"
    assert (own["logfile_maxbytes"], own["logfile_backups"]) == ("5MB", "3")


def test_image_layout_runs_every_program_as_the_service_user_from_data() -> None:
    conf = parsed(supervisord_conf(IMAGE, programs_for(simulated=False)))
    names = [s.removeprefix("program:") for s in conf.sections() if s.startswith("program:")]
    assert names == ["evse", "webapp", "watchdog"]
    for name in names:
        section = conf[f"program:{name}"]
        assert section["user"] == "chargeos"
        assert section["directory"] == "/opt/chargeos"
        assert section["stdout_logfile"] == f"/data/log/{name}.log"
    assert (
        conf["program:evse"]["command"]
        == "/opt/chargeos/bin/python3 -m runtime.evse --data-dir /data"
    )
    assert conf["unix_http_server"]["file"] == "/data/run/supervisor.sock"
    assert conf["unix_http_server"]["chown"] == "chargeos"  # the webapp's Service Control


def test_the_web_configurator_starts_after_evse_and_resets_to_the_factory_profile() -> None:
    webapp = parsed(supervisord_conf(IMAGE, PROGRAMS))["program:webapp"]
    assert webapp["command"] == (
        "/opt/chargeos/bin/python3 -m runtime.after_evse --data-dir /data --within 60 --"
        " webui --data-dir /data --default-profile /usr/share/chargeos/factory-profile.yaml"
    )


def test_paths_with_spaces_stay_one_argument(tmp_path: Path) -> None:
    data_dir = tmp_path / "my data"
    layout = SupervisorLayout(data_dir, "/usr/bin/python3", REPO, tmp_path / "a profile.yaml")
    webapp = parsed(supervisord_conf(layout, PROGRAMS))["program:webapp"]
    assert (
        f"--data-dir '{data_dir}' --default-profile '{tmp_path}/a profile.yaml'"
        in (webapp["command"])
    )


@contextlib.contextmanager
def supervisord(conf: Path) -> Iterator[xmlrpc.client.ServerProxy]:
    """supervisord in the foreground on `conf`, until its socket answers (bounded)."""
    process = subprocess.Popen(
        [str(SUPERVISORD), "-n", "-c", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    socket_path = conf.parent / "supervisor.sock"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"supervisord refused {conf} ({process.returncode}):\n{output}")
            transport = SupervisorTransport(None, None, f"unix://{socket_path}")
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            with contextlib.suppress(OSError, http.client.HTTPException):
                proxy.supervisor.getState()
                break
            assert time.monotonic() < deadline, f"supervisord did not answer on {socket_path}"
            time.sleep(0.1)
        yield proxy
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_supervisord_accepts_the_image_layout_with_a_service_user(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("conf")  # a short path: the socket's is limited
    for sub in ("log", "run"):
        (data_dir / sub).mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name  # supervisord may only switch to itself unless root
    layout = dataclasses.replace(IMAGE, data_dir=data_dir, working_dir=REPO, user=user)
    quiet = tuple(dataclasses.replace(p, autostart=False) for p in PROGRAMS)
    conf = data_dir / "run" / "supervisord.conf"
    conf.write_text(supervisord_conf(layout, quiet), encoding="utf-8")
    with supervisord(conf) as proxy:
        infos: list[dict[str, Any]] = proxy.supervisor.getAllConfigInfo()  # type: ignore[assignment]
    configs = {info["name"]: info for info in infos}
    assert sorted(configs) == sorted(p.name for p in PROGRAMS)
    webapp = configs["webapp"]
    assert webapp["command"].endswith(f"--default-profile {IMAGE.factory_profile}")
    assert webapp["uid"] == os.getuid()
    assert webapp["directory"] == str(REPO)
    assert webapp["stdout_logfile"] == str(data_dir / "log" / "webapp.log")
    assert webapp["stdout_logfile_maxbytes"] == 5 * 1024 * 1024
    assert (data_dir / "log" / "supervisord.log").is_file()


def test_supervisord_waits_for_evse_to_let_the_car_stop_before_it_kills_it() -> None:
    """On a stop evse turns the PWM off and gives the car up to 6 s to stop drawing before it
    opens the contactor and records the transaction's end; a SIGKILL inside that would open the
    contactor under load (by the board's watchdog) and lose the stop record."""
    sections = parsed(supervisord_conf(IMAGE, PROGRAMS))
    evse_wait_s = int(sections["program:evse"]["stopwaitsecs"])
    assert evse_wait_s >= FORCED_CONTACTOR_OFF_AFTER_PWM_OFF_S + 4  # + the stop record, a retry
    assert all("stopwaitsecs" in sections[f"program:{p.name}"] for p in PROGRAMS)


@pytest.mark.slow
def test_an_evse_that_dies_seconds_into_each_start_is_given_up_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A release whose evse dies while it starts (here 2 s in, as a broken one did under TCG)
    must end FATAL, so the health check's verdict is final instead of waiting out its bound."""
    data_dir = tmp_path_factory.mktemp("dies")
    for sub in ("log", "run"):
        (data_dir / sub).mkdir()
    (data_dir / "dies_late.py").write_text(
        "import sys, time\ntime.sleep(2)\nsys.exit('broken on purpose')\n", encoding="utf-8"
    )
    (evse,) = (p for p in PROGRAMS if p.name == "evse")
    layout = dataclasses.replace(IMAGE, data_dir=data_dir, python=sys.executable,
                                 working_dir=data_dir, user=None)  # fmt: skip
    conf = data_dir / "run" / "supervisord.conf"
    conf.write_text(
        supervisord_conf(layout, (dataclasses.replace(evse, module="dies_late"),)),
        encoding="utf-8",
    )
    with supervisord(conf) as proxy:
        deadline = time.monotonic() + 60  # 4 starts of 2 s and backoffs of 1, 2 and 3 s: ~14 s
        state = ""
        while time.monotonic() < deadline and state != "FATAL":
            time.sleep(0.5)
            info: dict[str, Any] = proxy.supervisor.getProcessInfo("evse")  # type: ignore[assignment]
            state = info["statename"]
    assert state == "FATAL"
