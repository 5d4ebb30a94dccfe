"""The whole ChargeOS stack as `make run` starts it, in a throw-away data directory.

supervisord runs sim, evse, webapp and watchdog from `runtime.programs.supervisord_conf` (so the
Admin page's Service Control works) in a data directory made by first boot's `prepare_device`,
with the profile's web ports moved to free loopback ports. Used by the browser tests, the health
check's test and `bench/webui_load.py`; every wait is bounded and says what it waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from image.builder import devrun
from runtime.config.store import ConfigStore
from runtime.firstboot import prepare_device
from runtime.programs import Program, SupervisorLayout, programs_for, supervisord_conf

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.2


class StackError(RuntimeError):
    """The stack did not come up (the message carries the tails of its logs)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sticker_logins(data_dir: Path) -> dict[str, str]:
    """The two logins printed on the sticker: {"installer": ..., "ev": ...}."""
    rows = {}
    for line in (data_dir / "secrets" / "sticker.txt").read_text(encoding="utf-8").splitlines():
        label, _, value = line.partition(":")
        rows[label.strip()] = value.strip()
    return {"installer": rows["Installer password"], "ev": rows["EV password"]}


@dataclass
class Stack:
    """A running sim + evse + webapp under supervisord."""

    data_dir: Path
    https_port: int
    http_port: int
    passwords: dict[str, str]
    supervisord: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        """The configurator's HTTPS address."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def profile_path(self) -> Path:
        """The active profile the webapp edits."""
        return self.data_dir / "profile.yaml"

    @property
    def certificate(self) -> Path:
        """The device's self-signed certificate (made by first boot's `prepare_device`)."""
        return self.data_dir / "secrets" / "tls" / "cert.pem"

    def sim(self, *arguments: str) -> str:
        """Run `python -m runtime.sim --data-dir D ARGS` (the simulation CLI); its output."""
        done = subprocess.run(
            [sys.executable, "-m", "runtime.sim", "--data-dir", str(self.data_dir), *arguments],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"sim {' '.join(arguments)} failed: {done.stderr.strip()}")
        return done.stdout

    def sim_status(self) -> dict[str, Any]:
        """`sim status --json`: the simulation and, when it answers, the evse service."""
        status = json.loads(self.sim("status", "--json"))
        assert isinstance(status, dict)
        return status

    def evse_state(self) -> str | None:
        """The evse service's state as the simulation sees it (None: not answering)."""
        evse = self.sim_status().get("evse")
        return None if evse is None else str(evse["state"])

    def supervisor(self) -> xmlrpc.client.ServerProxy:
        """supervisord's XML-RPC interface on its Unix socket."""
        socket_path = self.data_dir / "run" / "supervisor.sock"
        transport = SupervisorTransport(None, None, f"unix://{socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def pid_of(self, program: str) -> int:
        """The process id of a supervisord program."""
        info = self.supervisor().supervisor.getProcessInfo(program)
        assert isinstance(info, dict)
        pid = int(info["pid"])
        if pid <= 0:
            raise StackError(f"{program} is not running ({info['statename']})")
        return pid

    def log_tails(self, lines: int = 25) -> str:
        """The last lines of every program's log, for failure messages."""
        parts = []
        for log in sorted((self.data_dir / "log").glob("*.log")):
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)


def prepare(data_dir: Path, programs: Sequence[Program] | None = None) -> tuple[int, int]:
    """Data directory as first boot makes it, profile on free ports, supervisord.conf (of
    `programs`, by default the simulated charger's)."""
    active = prepare_device(data_dir, devrun.DEFAULT_PROFILE).profile_path
    https_port, http_port = free_port(), free_port()
    while http_port == https_port:
        http_port = free_port()
    store = ConfigStore.open(active)
    store.update(
        {
            "webui.https_port": https_port,
            "webui.http_port": http_port,
            "webui.bind_address": "127.0.0.1",
        }
    )
    store.save()
    layout = SupervisorLayout(data_dir, sys.executable, REPO, devrun.DEFAULT_PROFILE)
    conf = supervisord_conf(layout, programs_for(True) if programs is None else programs)
    (data_dir / "run" / "supervisord.conf").write_text(conf, encoding="utf-8")
    return https_port, http_port


def start_stack(
    data_dir: Path,
    timeout_s: float = START_TIMEOUT_S,
    *,
    programs: Sequence[Program] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Stack:
    """Start supervisord with the programs (extra `environment` for it and its programs);
    return once HTTPS answers."""
    https_port, http_port = prepare(data_dir, programs)
    supervisord = Path(sys.executable).parent / "supervisord"
    process = subprocess.Popen(
        [str(supervisord), "-n", "-c", str(data_dir / "run" / "supervisord.conf")],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: teardown can reach every child
        env={**os.environ, **(environment or {})},
    )
    stack = Stack(data_dir, https_port, http_port, sticker_logins(data_dir), process)
    try:
        wait_until_https_answers(stack, timeout_s)
        wait_until_evse_answers(stack, timeout_s)
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def wait_until_https_answers(stack: Stack, timeout_s: float) -> None:
    """Poll GET /login over HTTPS until it answers 200 (bounded)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate appears with the first start
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if stack.supervisord.poll() is not None:
            raise StackError(f"supervisord exited ({stack.supervisord.returncode})")
        try:
            with urllib.request.urlopen(
                f"{stack.base_url}/login", context=context, timeout=2
            ) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        time.sleep(POLL_S)
    raise StackError(
        f"the webapp did not answer on {stack.base_url} within {timeout_s:g} s ({last})\n"
        + stack.log_tails()
    )


def wait_until_evse_answers(stack: Stack, timeout_s: float) -> None:
    """Poll the simulation's status until the evse service reports a state (bounded)."""
    deadline = time.monotonic() + timeout_s
    last: str | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(StackError):
            last = stack.evse_state()
            if last not in (None, "booting"):
                return
        time.sleep(POLL_S)
    raise StackError(
        f"the evse service did not come up in {timeout_s:g} s (state {last})\n" + stack.log_tails()
    )


def stop_stack(stack: Stack) -> None:
    """SIGTERM supervisord (it stops its programs), then SIGKILL its group if it hangs."""
    process = stack.supervisord
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # a program that ignored supervisord's stop is still in the group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_stack(data_dir: Path) -> Iterator[Stack]:
    """Start the stack for a `with` block; stop it afterwards."""
    stack = start_stack(data_dir)
    try:
        yield stack
    finally:
        stop_stack(stack)
