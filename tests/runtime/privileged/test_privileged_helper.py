"""The privileged helper over its real Unix socket, against file-backed slots: only the group's
peers are served, only three requests with validated fields, and an update is verified by the
helper itself before it writes the inactive slot (a tampered zip writes nothing); the updater
CLI goes through it on a device.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.boot import grubenv
from runtime.privileged.__main__ import handed_over_socket
from runtime.privileged.client import HelperClient, HelperError
from runtime.privileged.protocol import Reply
from runtime.privileged.server import HelperConfig, PrivilegedHelper
from runtime.update.__main__ import EXIT_OK, EXIT_REFUSED
from runtime.update.__main__ import main as update_cli
from runtime.update.status import UpdateStatus, read_status, write_status
from tests.runtime.update.fakes import PAYLOAD, SLOT_BYTES, damage_payload, write_system_root
from tests.runtime.update.filedevice import OLD_SYSTEM, Device, make_device

T = TypeVar("T")
UNTOUCHED_B = b"\x55" * SLOT_BYTES  # what make_device puts in slot B


@dataclass
class Charger:
    """A file-backed charger with its helper's configuration."""

    device: Device
    config: HelperConfig
    reboots: list[str] = field(default_factory=list)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a Unix socket path holds at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="helper-", dir="/tmp") as folder:
        yield Path(folder)


@pytest.fixture
def charger(
    tmp_path: Path, short_dir: Path, uploads: Path, signing_key: Ed25519PrivateKey
) -> Charger:
    """Booted from slot A, trusting `signing_key`; the helper serves this process's group."""
    device = make_device(tmp_path)
    reboots: list[str] = []

    async def reboot() -> str:
        reboots.append("reboot")
        return "reboot requested (exit status 0)"

    config = HelperConfig(
        socket_path=short_dir / "helper.sock",
        group_id=os.getgid(),
        group_name="testers",
        uploads_dir=uploads,
        update_dir=device.state_dir,
        slots=device.slots,
        reboot=reboot,
        system_root=write_system_root(tmp_path / "root", [signing_key.public_key()]),
    )
    return Charger(device, config, reboots)


def with_helper(config: HelperConfig, talk: Callable[[HelperClient], Awaitable[T]]) -> T:
    """Run the helper on its socket while `talk` asks it, then stop it."""

    async def run() -> T:
        server = await PrivilegedHelper(config).serve()
        async with server:
            return await talk(HelperClient(config.socket_path))

    return asyncio.run(run())


def raw(config: HelperConfig, line: bytes) -> Reply:
    """The helper's reply to one raw line."""
    return with_helper(config, lambda client: client.ask_raw(line))


def test_a_peer_outside_the_group_is_refused_and_nothing_is_written(
    charger: Charger, update_zip: Path
) -> None:
    outsider = max([*os.getgroups(), os.getgid()]) + 1
    config = dataclasses.replace(charger.config, group_id=outsider)
    reply = raw(config, b'{"request": "install", "upload": "update.zip", "activate": true}\n')
    assert not reply.ok
    assert f"pid {os.getpid()} (uid {os.getuid()}, gid {os.getgid()})" in reply.message
    assert f"not in group testers (gid {outsider})" in reply.message
    assert charger.device.slot_bytes("B") == UNTOUCHED_B
    assert raw(config, b'{"request": "reboot"}\n').ok is False
    assert charger.reboots == []


def test_the_socket_is_for_root_and_the_group_only(charger: Charger) -> None:
    async def mode(_: HelperClient) -> int:
        return charger.config.socket_path.stat().st_mode & 0o777

    assert with_helper(charger.config, mode) == 0o660
    assert charger.config.socket_path.stat().st_gid == charger.config.group_id


def test_an_unknown_request_is_refused_with_the_requests_it_serves(charger: Charger) -> None:
    reply = raw(charger.config, b'{"request": "shell", "command": "dd of=/dev/vda2"}\n')
    assert not reply.ok
    assert reply.message == (
        "refused: request: 'shell' is not a request this helper serves;"
        " expected one of: install, activate, reboot, debug-ssh"
    )
    assert "missing" in raw(charger.config, b"{}\n").message
    assert "Invalid JSON" in raw(charger.config, b"reboot please\n").message


def test_a_bad_field_is_refused_naming_the_field_and_what_it_must_be(
    charger: Charger, update_zip: Path
) -> None:
    path_reply = raw(charger.config, b'{"request": "install", "upload": "../../dev/vda2"}\n')
    assert not path_reply.ok
    assert path_reply.message.startswith("refused: install.upload: String should match pattern")
    extra = raw(charger.config, b'{"request": "install", "upload": "update.zip", "force": true}\n')
    assert extra.message == "refused: install.force: Extra inputs are not permitted"
    flag = raw(charger.config, b'{"request": "install", "upload": "update.zip", "activate": 3}\n')
    assert flag.message.startswith("refused: install.activate: Input should be a valid boolean")
    long = raw(charger.config, b'{"request": "reboot", "x": "' + b"y" * 8000 + b'"}\n')
    assert long.message == "refused: a request is one JSON line of at most 4096 bytes"
    assert charger.device.slot_bytes("B") == UNTOUCHED_B
    assert charger.reboots == []


def test_a_signed_update_is_installed_into_the_other_slot_then_activated(
    charger: Charger, update_zip: Path
) -> None:
    steps: list[str] = []

    async def install_then_activate(client: HelperClient) -> tuple[Reply, dict[str, str], Reply]:
        installed = await client.install(
            update_zip.name, progress=lambda step, fraction: steps.append(step)
        )
        before = grubenv.read(charger.config.slots.grubenv)
        return installed, before, await client.activate()

    installed, before, activated = with_helper(charger.config, install_then_activate)
    assert (installed.version, installed.target_slot, installed.activated) == ("0.3.0", "B", False)
    assert charger.device.slot_bytes("A") == OLD_SYSTEM
    assert charger.device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
    assert (before["ORDER"], before["B_OK"]) == ("A B", "0")  # installed, not yet tried
    assert steps[0] == "mark-bad" and "write" in steps and steps[-1] == "done"
    assert activated.activated
    environment = grubenv.read(charger.config.slots.grubenv)
    assert (environment["ORDER"], environment["B_OK"], environment["B_TRY"]) == ("B A", "1", "0")


def test_a_tampered_zip_is_refused_by_the_helper_and_nothing_is_written(
    charger: Charger, update_zip: Path
) -> None:
    damage_payload(update_zip)
    environment = grubenv.read(charger.config.slots.grubenv)
    with pytest.raises(HelperError, match=r"(?i)sha-256|damaged|changed"):
        with_helper(charger.config, lambda client: client.install(update_zip.name, activate=True))
    assert charger.device.slot_bytes("B") == UNTOUCHED_B
    assert grubenv.read(charger.config.slots.grubenv) == environment
    assert not charger.device.state_dir.exists()


def test_a_link_staged_as_an_upload_is_never_followed(charger: Charger, update_zip: Path) -> None:
    (charger.config.uploads_dir / "evil.zip").symlink_to(update_zip)
    with pytest.raises(HelperError, match=r"evil\.zip is a symbolic link: refused"):
        with_helper(charger.config, lambda client: client.install("evil.zip", activate=True))
    with pytest.raises(HelperError, match=r"There is no staged update gone\.zip in"):
        with_helper(charger.config, lambda client: client.install("gone.zip"))
    assert charger.device.slot_bytes("B") == UNTOUCHED_B


def test_only_the_update_this_helper_installed_can_be_activated(charger: Charger) -> None:
    # The status file lives on the services' data partition: a forged "installed" record
    # must not make the helper boot whatever slot B holds.
    write_status(
        charger.device.state_dir,
        UpdateStatus(state="installed", version="0.9.0", from_slot="A", target_slot="B"),
    )
    environment = grubenv.read(charger.config.slots.grubenv)
    with pytest.raises(HelperError, match="There is no installed update waiting to be activated"):
        with_helper(charger.config, lambda client: client.activate())
    assert grubenv.read(charger.config.slots.grubenv) == environment
    assert not read_status(charger.device.state_dir).activated


def test_a_reboot_request_reboots_the_machine(charger: Charger) -> None:
    reply = with_helper(charger.config, lambda client: client.reboot())
    assert (reply.ok, reply.message) == (True, "reboot requested (exit status 0)")
    assert charger.reboots == ["reboot"]


def test_a_helper_that_is_not_running_is_named_in_the_error(short_dir: Path) -> None:
    client = HelperClient(short_dir / "helper.sock")
    with pytest.raises(HelperError, match=f"does not answer on {short_dir}/helper.sock"):
        asyncio.run(client.reboot())


def test_a_socket_handed_over_by_systemd_is_served(charger: Charger) -> None:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(charger.config.socket_path))
    listening.listen()

    async def run() -> Reply:
        server = await PrivilegedHelper(charger.config).serve(listening)
        async with server:
            return await HelperClient(charger.config.socket_path).reboot()

    assert asyncio.run(run()).ok
    assert charger.reboots == ["reboot"]
    assert handed_over_socket({"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}) is None


@contextmanager
def helper_in_a_thread(config: HelperConfig) -> Iterator[None]:
    """The helper serving from its own event loop, for a synchronous client like the CLI."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(PrivilegedHelper(config).serve(), loop).result(10)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_updater_cli_on_a_device_installs_through_the_helper(
    charger: Charger, update_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "usb" / "chargeos-0.3.0-update.zip"
    elsewhere.parent.mkdir()
    update_zip.rename(elsewhere)
    config = charger.config
    via = ["--helper-socket", str(config.socket_path), "--uploads-dir", str(config.uploads_dir)]
    with helper_in_a_thread(config):
        assert update_cli(["install", str(elsewhere), *via]) == EXIT_OK
        assert update_cli(["activate", *via]) == EXIT_REFUSED  # already active: nothing waits
    out, err = capsys.readouterr()
    assert "Update 0.3.0 installed in slot B: the next restart tries it once" in out
    assert "update: not activated: There is no installed update waiting" in err
    assert charger.device.slot_bytes("B")[: len(PAYLOAD)] == PAYLOAD
    assert grubenv.read(config.slots.grubenv)["ORDER"] == "B A"
    assert list(config.uploads_dir.iterdir()) == []  # the staged copy is gone
