"""The watchdog in a real supervisord stack: a frozen service is restarted, and systemd hears
from the watchdog only while supervisord itself answers.

The processes are frozen with SIGSTOP, the hang a loop blocked in a system call or a busy loop
looks like from outside. The watchdog's bounds are narrowed by its own options to keep the
tests short; the rule under test is the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import heartbeat
from runtime.persistence.database import Database
from runtime.persistence.event_log import EventLog
from runtime.programs import Program, programs_for
from runtime.watchdog.service import CHECK_S, EVENT_SOURCE, HUNG_CODE, SUPERVISOR_TIMEOUT_S
from tests.webui.stack import (
    START_TIMEOUT_S,
    Stack,
    start_stack,
    stop_stack,
    wait_until_evse_answers,
    wait_until_https_answers,
)

HUNG_AFTER_S = 10.0
BOUNDS = f"--hung-after-s {HUNG_AFTER_S:g} --start-grace-s 60"
# Found within HUNG_AFTER_S + CHECK_S, killed at once, started again by supervisord; the rest is
# slack for a loaded 2-core machine.
RESTARTED_WITHIN_S = 90.0
NOTIFY_WITHIN_S = 30.0  # the first round runs as soon as the watchdog started


def narrowed_programs() -> tuple[Program, ...]:
    """The simulated charger's programs, the watchdog with the short bounds."""
    return tuple(
        dataclasses.replace(p, arguments=BOUNDS) if p.name == "watchdog" else p
        for p in programs_for(True)
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(tmp_path / "data", programs=narrowed_programs())
    try:
        yield running
    finally:
        stop_stack(running)


def watchdog_hears(stack: Stack) -> None:
    """Wait until the watchdog listens (it starts after evse) and has heard a round of beats."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not heartbeat.socket_path(stack.data_dir).exists():
        assert time.monotonic() < deadline, "the watchdog did not start\n" + stack.log_tails()
        time.sleep(0.2)
    time.sleep(2 * heartbeat.HEARTBEAT_S)


def restarted(stack: Stack, program: str, old_pid: int) -> int:
    """Wait for `program` to run as a process other than `old_pid`, forging heartbeats for the
    frozen one from this process all the while; the new pid."""
    deadline = time.monotonic() + RESTARTED_WITHIN_S
    while time.monotonic() < deadline:
        heartbeat.send(heartbeat.socket_path(stack.data_dir))  # not from the program's pid
        info = stack.supervisor().supervisor.getProcessInfo(program)
        assert isinstance(info, dict)
        if info["statename"] == "RUNNING" and int(info["pid"]) not in (0, old_pid):
            return int(info["pid"])
        time.sleep(1.0)
    raise AssertionError(
        f"{program} (pid {old_pid}) was not restarted within {RESTARTED_WITHIN_S:g} s\n"
        + stack.log_tails()
    )


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("program", ["evse", "webapp"])
def test_a_frozen_service_is_restarted_and_the_restart_is_in_the_event_log(
    stack: Stack, program: str
) -> None:
    watchdog_hears(stack)
    frozen = stack.pid_of(program)
    os.kill(frozen, signal.SIGSTOP)
    try:
        new_pid = restarted(stack, program, frozen)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed and reaped, as it should be
            os.kill(frozen, signal.SIGCONT)
    assert new_pid != frozen
    with pytest.raises(ProcessLookupError):
        os.kill(frozen, 0)
    if program == "evse":
        wait_until_evse_answers(stack, START_TIMEOUT_S)
    else:
        wait_until_https_answers(stack, START_TIMEOUT_S)
    with Database.open(stack.data_dir / "chargeos.db") as database:
        events = EventLog(database).recent(10, source=EVENT_SOURCE)
    assert [(e.code, e.data["program"], e.data["pid"]) for e in events] == [
        (HUNG_CODE, program, frozen)
    ]
    assert f"{program} (pid {frozen}) hung: no heartbeat for" in events[0].message


def datagrams(receiver: socket.socket, within_s: float) -> list[bytes]:
    """Every datagram that arrives on `receiver` within `within_s`."""
    heard = []
    deadline = time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        receiver.settimeout(left)
        try:
            heard.append(receiver.recv(256))
        except TimeoutError:
            break
    return heard


def first_datagram(receiver: socket.socket, within_s: float) -> bytes:
    """The next datagram on `receiver`; fails after `within_s`."""
    receiver.settimeout(within_s)
    try:
        return receiver.recv(256)
    except TimeoutError:
        raise AssertionError(f"systemd heard nothing within {within_s:g} s") from None


@pytest.mark.slow
@pytest.mark.e2e
def test_systemd_hears_the_watchdog_only_while_supervisord_answers(tmp_path: Path) -> None:
    notify = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(notify))
        stack = start_stack(
            tmp_path / "data",
            programs=narrowed_programs(),
            environment={"NOTIFY_SOCKET": str(notify)},
        )
        try:
            assert first_datagram(systemd, NOTIFY_WITHIN_S) == b"WATCHDOG=1"
            os.kill(stack.supervisord.pid, signal.SIGSTOP)
            try:
                datagrams(systemd, SUPERVISOR_TIMEOUT_S + CHECK_S)  # a round already answered
                assert datagrams(systemd, 3 * CHECK_S) == []
            finally:
                os.kill(stack.supervisord.pid, signal.SIGCONT)
            assert first_datagram(systemd, NOTIFY_WITHIN_S) == b"WATCHDOG=1"
        finally:
            stop_stack(stack)
