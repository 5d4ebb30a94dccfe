"""Debug SSH through the privileged helper: the debug-ssh request takes only start, stop, restart
and status; the helper runs systemctl on the one unit and answers its real state (a unit that did
not start is a failure, said with systemd's words); and the unit's start step keeps one host key
per device on /data and lets in only the validated device and installer keys.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from runtime.boot.slots import SlotSet
from runtime.config.debug_ssh_keys import (
    device_public_key,
    ensure_device_key,
    installer_keys_path,
    save_installer_keys,
)
from runtime.privileged import debug_ssh
from runtime.privileged.client import HelperClient, HelperError
from runtime.privileged.protocol import Reply
from runtime.privileged.server import HelperConfig, PrivilegedHelper

FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl as the helper calls it: <action> <unit>; the unit's state lives in a file
echo "$@" >> "{log}"
case "$1" in
  start|restart) if [ -e "{broken}" ]; then echo failed > "{state}";
                 echo "Job for $2 failed because the control process exited with error code." >&2;
                 exit 1; fi; echo active > "{state}" ;;
  stop) echo inactive > "{state}" ;;
  is-active) cat "{state}"; [ "$(cat "{state}")" = active ] ;;
esac
"""


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl on the helper's command path that keeps the unit's state in a file; the
    folder with its `calls` log (and `broken` to make a start fail)."""
    state = tmp_path / "state"
    state.write_text("inactive\n")
    script = tmp_path / "systemctl"
    script.write_text(
        FAKE_SYSTEMCTL.format(log=tmp_path / "calls", broken=tmp_path / "broken", state=state)
    )
    script.chmod(0o755)
    monkeypatch.setattr(debug_ssh, "SYSTEMCTL", str(script))
    return tmp_path


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[HelperConfig]:
    """A helper configuration serving this process's group, with the real unit control."""
    with tempfile.TemporaryDirectory(prefix="helper-", dir="/tmp") as folder:
        yield HelperConfig(
            socket_path=Path(folder) / "helper.sock", group_id=os.getgid(), group_name="testers",
            uploads_dir=tmp_path, update_dir=tmp_path / "update",
            slots=SlotSet(devices={}, grubenv=tmp_path / "grubenv"),
            reboot=lambda: asyncio.sleep(0, "no reboot"), debug_ssh=debug_ssh.control_unit,
        )  # fmt: skip


def ask(config: HelperConfig, line: bytes) -> Reply:
    """The helper's reply to one raw request line."""

    async def run() -> Reply:
        async with await PrivilegedHelper(config).serve():
            return await HelperClient(config.socket_path).ask_raw(line)

    return asyncio.run(run())


def calls(systemctl: Path) -> list[str]:
    """What the helper asked systemctl, in order."""
    log = systemctl / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_start_stop_and_status_run_systemctl_on_the_one_unit_and_answer_its_state(
    helper: HelperConfig, systemctl: Path
) -> None:
    unit = debug_ssh.UNIT
    status = ask(helper, b'{"request": "debug-ssh", "action": "status"}\n')
    assert (status.ok, status.debug_ssh) == (True, "inactive")
    started = ask(helper, b'{"request": "debug-ssh", "action": "start"}\n')
    assert (started.ok, started.debug_ssh, started.message) == (
        True, "active", "Debug SSH is active.",
    )  # fmt: skip
    stopped = ask(helper, b'{"request": "debug-ssh", "action": "stop"}\n')
    assert (stopped.ok, stopped.debug_ssh) == (True, "inactive")
    assert calls(systemctl) == [
        f"is-active {unit}", f"start {unit}", f"is-active {unit}", f"stop {unit}",
        f"is-active {unit}",
    ]  # fmt: skip


def test_a_start_that_fails_says_so_in_systemds_words(
    helper: HelperConfig, systemctl: Path
) -> None:
    (systemctl / "broken").touch()
    reply = ask(helper, b'{"request": "debug-ssh", "action": "restart"}\n')
    assert not reply.ok and reply.debug_ssh == "failed"
    assert reply.message.startswith("Debug SSH did not restart: Job for chargeos-debug-ssh")
    assert reply.message.endswith("(journalctl -u chargeos-debug-ssh says why).")


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        (b'{"request": "debug-ssh", "action": "enable"}',
         "refused: debug-ssh.action: Input should be 'start', 'stop', 'restart' or 'status'"),
        (b'{"request": "debug-ssh"}', "refused: debug-ssh.action: Field required"),
        (b'{"request": "debug-ssh", "action": "start", "password": "x"}',
         "refused: debug-ssh.password: Extra inputs are not permitted"),
        (b'{"request": "debug-ssh", "action": "start; reboot"}',
         "refused: debug-ssh.action: Input should be 'start', 'stop', 'restart' or 'status'"),
    ],
    ids=["enable", "no action", "extra field", "injection"],
)  # fmt: skip
def test_a_debug_ssh_request_takes_only_its_four_actions(
    helper: HelperConfig, systemctl: Path, line: bytes, refusal: str
) -> None:
    reply = ask(helper, line + b"\n")
    assert (reply.ok, reply.message) == (False, refusal)
    assert calls(systemctl) == []


def test_a_peer_outside_the_group_cannot_start_debug_ssh(
    helper: HelperConfig, systemctl: Path
) -> None:
    outsider = max([*os.getgroups(), os.getgid()]) + 1
    config = HelperConfig(**{**helper.__dict__, "group_id": outsider})
    reply = ask(config, b'{"request": "debug-ssh", "action": "start"}\n')
    assert not reply.ok and f"not in group testers (gid {outsider})" in reply.message
    assert calls(systemctl) == []


def test_a_helper_without_debug_ssh_says_there_is_none(helper: HelperConfig) -> None:
    config = HelperConfig(**{**helper.__dict__, "debug_ssh": None})

    async def start() -> Reply:
        async with await PrivilegedHelper(config).serve():
            return await HelperClient(config.socket_path).debug_ssh("start")

    with pytest.raises(HelperError, match="There is no debug SSH server on this system"):
        asyncio.run(start())


def installer_line() -> str:
    """A fresh installer public key line."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    public = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " installer@laptop"


def test_the_start_step_keeps_one_host_key_and_lets_in_only_the_validated_keys(
    tmp_path: Path,
) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    run.mkdir()
    ensure_device_key(data, "VT_0000001")
    installer = installer_line()
    save_installer_keys(data, installer)
    assert debug_ssh.main(["--data-dir", str(data), "--run-dir", str(run)]) == 0
    host_key = debug_ssh.host_key_path(data)
    assert stat.S_IMODE(host_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(host_key.parent.stat().st_mode) == 0o700
    made = host_key.read_bytes()
    serialization.load_ssh_private_key(made, password=None)  # sshd's format
    authorized = run / "authorized_keys"
    assert stat.S_IMODE(authorized.stat().st_mode) == 0o600
    assert authorized.read_text() == f"{device_public_key(data).line()}\n{installer}\n"
    # a later start (every boot makes a new runtime directory) keeps the device's host key
    authorized.unlink()
    assert debug_ssh.main(["--data-dir", str(data), "--run-dir", str(run)]) == 0
    assert host_key.read_bytes() == made


def test_installer_keys_changed_behind_the_webapps_back_are_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    run.mkdir()
    ensure_device_key(data, "VT_0000001")
    installer_keys_path(data).write_text('command="sh" ' + installer_line() + "\n")
    assert debug_ssh.main(["--data-dir", str(data), "--run-dir", str(run)]) == 0
    assert "the installer's keys are not used: " in capsys.readouterr().out
    assert (run / "authorized_keys").read_text() == device_public_key(data).line() + "\n"


def test_a_host_key_folder_that_is_a_link_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run, elsewhere = tmp_path / "data", tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    ensure_device_key(data, "VT_0000001")
    (data / debug_ssh.HOST_KEYS_DIR).symlink_to(elsewhere)
    assert debug_ssh.main(["--data-dir", str(data), "--run-dir", str(run)]) == 1
    assert "debug SSH not started: " in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == [] and not (run / "authorized_keys").exists()


def test_without_a_device_key_nothing_is_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    run.mkdir()
    data.mkdir()
    assert debug_ssh.main(["--data-dir", str(data), "--run-dir", str(run)]) == 1
    assert "first boot (runtime.firstboot) makes the debug SSH key" in capsys.readouterr().err
