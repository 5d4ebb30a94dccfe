"""Debug SSH as the image tests use it: the installer starts it on the Admin page and downloads the
device's own key there, then a test runs commands in the guest as root through the forwarded
port 22 (`booted(..., forward_ssh=True)`), with the `ssh` client and nothing else.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.image.machine import Boot

SSH_TIMEOUT_S = 120  # one command over SSH under TCG, the login included
START_TIMEOUT_MS = 120_000  # the unit's start step is a Python start under TCG
BANNER_WAIT_S = 20.0  # sshd sends its banner at once; slirp closes a refused port at once
STARTED = "sshd: Debug SSH is active."
STOPPED = "sshd: Debug SSH is inactive."


def banner(port: int) -> bytes:
    """What the guest's port 22 says first: an SSH banner, or b"" when nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=BANNER_WAIT_S) as connection:
            return connection.recv(64)
    except (ConnectionError, TimeoutError):
        return b""


def new_key(path: Path) -> Path:
    """A fresh Ed25519 key pair made by ssh-keygen (the private half's path)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "engineer@laptop",
                    "-f", str(path)], check=True)  # fmt: skip
    return path


def press(page: Page, boot: Boot, command: str) -> None:
    """A Service Control button (e.g. "sshd.start"), its confirmation accepted."""
    page.goto(f"{boot.base_url}/admin")
    page.once("dialog", Dialog.accept)
    page.locator(f'button[name="command"][value="{command}"]').click()


def debug_ssh_state(page: Page, boot: Boot) -> str:
    """Admin → Service Control: the Debug SSH row's state badge (RUNNING, STOPPED, ...)."""
    page.goto(f"{boot.base_url}/admin")
    row = page.locator("tr", has=page.get_by_text("Debug SSH", exact=False)).first
    return row.locator(".badge").inner_text()


def download_device_key(page: Page, boot: Boot, folder: Path) -> Path:
    """Admin → Debug SSH: this charger's private key, saved 0600 as ssh wants it."""
    page.goto(f"{boot.base_url}/admin")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this charger's debug key").click()
    key = folder / download.value.suggested_filename
    download.value.save_as(key)
    key.chmod(0o600)
    return key


@dataclass(frozen=True)
class DebugShell:
    """Commands over debug SSH with one key; the guest's host key is learnt at the first."""

    boot: Boot
    key: Path | None
    known_hosts: Path

    def run(
        self, command: str, *options: str, user: str = "root", timeout_s: float = SSH_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` (no agent, no password prompt); its exit status and output. `options`
        come first: ssh keeps the first value given for an option."""
        assert self.boot.ssh_port is not None, "boot with booted(..., forward_ssh=True)"
        identity = ["-i", str(self.key), "-o", "IdentitiesOnly=yes"] if self.key else []
        return subprocess.run(
            ["ssh", "-F", "none", "-p", str(self.boot.ssh_port), *options, *identity,
             "-o", "BatchMode=yes", "-o", "IdentityAgent=none",
             "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=60",
             f"{user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip

    def check(self, command: str) -> str:
        """Run `command` as root; its output, or fail with what it said."""
        done = self.run(command)
        assert done.returncode == 0, f"{command!r}: exit {done.returncode}: {done.stderr}"
        return done.stdout

    def with_key(self, key: Path | None) -> DebugShell:
        """The same guest and known hosts, another key (None: none at all)."""
        return DebugShell(self.boot, key, self.known_hosts)


def start_debug_shell(page: Page, boot: Boot, folder: Path) -> DebugShell:
    """With `page` logged in as the installer: start debug SSH and get a root shell with the
    device key from the Admin page."""
    key = download_device_key(page, boot, folder)
    press(page, boot, "sshd.start")
    expect(page.get_by_text(STARTED)).to_be_visible(timeout=START_TIMEOUT_MS)
    return DebugShell(boot, key, folder / "known_hosts")
