"""Charging sessions survive real power cuts: qemu is killed at a random instant of a session with
meter samples flowing, the stopped disk is read, and the next boot closes what the cut left open.

Each boot plugs the simulated car in and presents a card through debug SSH (started from the
Admin page), polls the session from inside the guest while it charges, and dies at a random
instant between the card and some seconds into charging: before the start is written, during
it, or between meter samples. After every cut the data partition is read as it lies on the
disk (its journal and the database's WAL applied) and checked against what it held before and
what the guest said had started: one row per session, none lost, none duplicated, recorded
energy never going back. A last boot closes the last session and is checked the same way.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.image.machine import READY, Boot, BuiltImage, booted, log_in, sticker_from_serial
from tests.image.stored_sessions import StoredSessions, broken_rules, read_stopped_disk
from tests.soak import rounds

pytestmark = [pytest.mark.e2e, pytest.mark.soak, pytest.mark.timeout(36000)]
CUTS = rounds(5, 50)
CARD = "FB433810"  # on the local card list of profiles/simulated.yaml
CARD_PRESENTED = "card-presented"
PYTHON = "/opt/chargeos/venv/bin/python"
SIM = f"{PYTHON} -m runtime.sim --data-dir /data"
SUPERVISORCTL = "/opt/chargeos/venv/bin/supervisorctl -c /etc/chargeos/supervisord.conf"
SQLITE = (
    f'{PYTHON} -c \'import sqlite3, sys; c = sqlite3.connect("/data/chargeos.db"); '
    "print(*(r[0] for r in c.execute(sys.argv[1])), sep=chr(10))'"
)
# 30 s of silence, a 5 s round, a kill and a start of evse under TCG (the profile, the database)
WATCHDOG_RESTART_S = 180.0
EVSE_START_S = 180.0  # evse restarted under TCG: profile, database, the simulator's endpoints
# 2 s between meter samples instead of the profile's 60 s, so samples flow within the window
SAMPLE_INTERVAL_S = 2
# From the card to the cut: the start's write (≈1 s after the card under TCG) lies early in it,
# then several samples; one session per boot keeps each round to about one boot's time.
CUT_WINDOW_S = 15.0
SSH_TIMEOUT_S = 120  # one command over SSH under TCG, the login included
SSH_ACTIVE_MS = 120_000
POLL_S = 1.0  # the guest's own status poll (each `sim status` takes a few seconds under TCG)


@dataclass
class Guest:
    """Debug SSH into the booted image as root with this charger's own key."""

    boot: Boot
    key: Path
    known_hosts: Path

    def command(self, command: str) -> list[str]:
        """The ssh command line that runs `command` in the guest."""
        assert self.boot.ssh_port is not None
        return ["ssh", "-F", "none", "-p", str(self.boot.ssh_port), "-i", str(self.key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "IdentityAgent=none",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=60",
                "root@127.0.0.1", command]  # fmt: skip

    def run(self, command: str) -> str:
        """Run `command`; its output (fails with its error output)."""
        done = subprocess.run(
            self.command(command), capture_output=True, text=True, timeout=SSH_TIMEOUT_S
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout


def start_debug_ssh(page: Page, boot: Boot, password: str, key: Path) -> None:
    """Log in, start debug SSH from Service Control; fetch the device's key if not yet here."""
    log_in(page, boot, password)
    page.goto(f"{boot.base_url}/admin")
    if not key.exists():
        with page.expect_download() as download:
            page.get_by_role("link", name="Download this charger's debug key").click()
        download.value.save_as(key)
        key.chmod(0o600)
    page.once("dialog", Dialog.accept)
    page.locator('button[name="command"][value="sshd.start"]').click()
    expect(page.get_by_text("sshd: Debug SSH is active.")).to_be_visible(timeout=SSH_ACTIVE_MS)


def set_sample_interval(guest: Guest, seconds: int) -> None:
    """The profile's meter sample interval, saved as the services' user; evse restarted."""
    save = (
        "from pathlib import Path; from runtime.config.store import ConfigStore; "
        "s = ConfigStore.open(Path('/data/profile.yaml')); "
        f"s.update({{'csms.meter_values_interval_s': {seconds}}}); s.save()"
    )
    guest.run(f'runuser -u chargeos -- {PYTHON} -c "{save}" && {SUPERVISORCTL} restart evse')
    deadline = time.monotonic() + EVSE_START_S
    state = None
    while time.monotonic() < deadline:
        evse = json.loads(guest.run(f"{SIM} status --json")).get("evse") or {}
        state = evse.get("state")
        if state not in (None, "booting"):
            return  # started, the sessions a cut left open closed
        time.sleep(POLL_S)
    raise AssertionError(f"evse did not start again within {EVSE_START_S:g} s (state {state})")


def a_frozen_evse_is_restarted_by_the_watchdog(guest: Guest) -> None:
    """The last boot, idle, also shows the service watchdog in the image: systemd's watchdog of
    chargeos.service was fed all along, and an evse frozen with SIGSTOP runs again as a new
    process, recorded in the event log."""
    unit = guest.run("systemctl show -p WatchdogUSec -p NRestarts chargeos.service").split()
    assert sorted(unit) == ["NRestarts=0", "WatchdogUSec=2min"], unit
    frozen = int(guest.run(f"{SUPERVISORCTL} pid evse"))
    guest.run(f"kill -STOP {frozen}")
    deadline = time.monotonic() + WATCHDOG_RESTART_S
    while time.monotonic() < deadline:
        pid = guest.run(f"{SUPERVISORCTL} pid evse").strip()
        if pid.isdigit() and int(pid) not in (0, frozen):
            break
        time.sleep(POLL_S)
    else:
        raise AssertionError(f"evse (pid {frozen}) frozen, not restarted in {WATCHDOG_RESTART_S} s")
    events = guest.run(f"{SQLITE} \"SELECT message FROM events WHERE code = 'SERVICE_HUNG'\"")
    assert f"evse (pid {frozen}) hung" in events, events


class Watching:
    """Plug in and present the card over SSH, then print the evse's view of the session, one
    JSON a line, until the power goes; a thread collects the lines as they come."""

    def __init__(self, guest: Guest) -> None:
        script = (
            f"{SIM} plug && {SIM} card {CARD} && echo {CARD_PRESENTED} && "
            f"while true; do {SIM} status --json | tr -d '\\n'; echo; sleep {POLL_S:g}; done"
        )
        self.lines: list[str] = []
        self._process = subprocess.Popen(
            guest.command(script), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)

    def until_card_presented(self) -> None:
        """Wait until the guest has presented the card."""
        deadline = time.monotonic() + SSH_TIMEOUT_S
        while f"{CARD_PRESENTED}\n" not in self.lines:
            assert time.monotonic() < deadline, f"no card presented: {self.lines}"
            assert self._process.poll() is None, f"plug or card failed: {self.lines}"
            time.sleep(0.1)

    def output(self) -> str:
        """Everything the guest printed before the power went."""
        self._process.wait(timeout=SSH_TIMEOUT_S)
        self._reader.join(timeout=SSH_TIMEOUT_S)
        return "".join(self.lines)


def seen_started(lines: str) -> set[int]:
    """The transactions the evse reported open in the status lines the guest sent."""
    started = set()
    for line in lines.splitlines():
        if not line.startswith("{"):
            continue  # the last line, cut off with the power
        try:
            status = json.loads(line)
        except json.JSONDecodeError:
            continue
        transaction = (status.get("evse") or {}).get("transaction")
        if transaction:
            started.add(int(transaction["transaction_id"]))
    return started


@dataclass
class Rounds:
    """What the rounds so far found."""

    stored: StoredSessions
    sessions_started: int = 0  # an upper bound: one per boot whose card was presented
    problems: list[str] = field(default_factory=list)
    cuts: list[str] = field(default_factory=list)

    def check(self, after: StoredSessions, started: set[int], what: str) -> None:
        """Check the store after a cut against the one before it."""
        for problem in broken_rules(
            self.stored, after, started, len(self.stored.sessions) + self.sessions_started
        ):
            self.problems.append(f"{what}: {problem}")
        self.sessions_started = 0
        self.stored = after


def test_every_session_is_stored_once_with_its_energy_after_power_cuts_at_random_instants(
    built_image: BuiltImage, page: Page, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CHARGEOS_CUT_SEED", time.time_ns() % 1_000_000))
    chooser = random.Random(seed)
    first = built_image.out_dir / "serial-first.log"
    key, known_hosts = tmp_path / "debug-key", tmp_path / "known_hosts"
    state = Rounds(read_stopped_disk(built_image.image, tmp_path / "disk"))
    password: str | None = None
    for cut in range(CUTS + 1):
        last = cut == CUTS
        with booted(built_image, f"power-cut-{cut}", forward_ssh=True) as boot:
            serial = boot.wait_for(READY)
            if password is None:  # test_image's first boot printed it, or this one when alone
                printed = first.read_text(errors="replace") if first.exists() else serial
                password = sticker_from_serial(printed)["installer"]
            start_debug_ssh(page, boot, password, key)
            guest = Guest(boot, key, known_hosts)
            if cut == 0:
                set_sample_interval(guest, SAMPLE_INTERVAL_S)
            if last:
                set_sample_interval(guest, 60)  # the profile's own value again
                a_frozen_evse_is_restarted_by_the_watchdog(guest)
                started: set[int] = set()
            else:
                delay_s = chooser.uniform(0, CUT_WINDOW_S)
                watching = Watching(guest)
                state.sessions_started += 1
                watching.until_card_presented()
                time.sleep(delay_s)
                # Leaving the block kills qemu: the power cut. The poll dies with it.
        if not last:
            started = seen_started(watching.output())
            state.cuts.append(f"cut {cut} {delay_s:.1f} s after the card, saw {sorted(started)}")
        after = read_stopped_disk(boot.machine.image, tmp_path / "disk")  # the guest's disk
        state.check(after, started, f"after {'the last boot' if last else f'cut {cut}'}")
    open_sessions = [s.transaction_id for s in state.stored.sessions if s.status == "active"]
    assert not state.problems, f"seed {seed}:\n" + "\n".join(state.problems + state.cuts)
    assert open_sessions == [], f"seed {seed}: left open after the last boot: {open_sessions}"
    assert any(s.sample_wh for s in state.stored.sessions), f"seed {seed}: no sample was written"
