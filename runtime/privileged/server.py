"""The privileged helper's server: one asyncio Unix socket, one JSON request per connection.

Only peers whose kernel-reported credentials (SO_PEERCRED) put them in the allowed group are
served. An install opens the staged zip itself (a plain file in its uploads directory, never a
link), and the one install routine verifies signature, manifest and payload before it writes the
inactive slot. Only the update this helper installed can be activated. Debug SSH is a systemd
unit the helper starts, stops and reports (runtime.privileged.debug_ssh).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.boot.grubenv import GrubEnvError
from runtime.boot.slots import SlotSet
from runtime.privileged.debug_ssh import DebugSshAction, UnitState
from runtime.privileged.protocol import (
    MAX_REQUEST_BYTES,
    ActivateRequest,
    DebugSshRequest,
    InstallRequest,
    Progress,
    RebootRequest,
    Reply,
    RequestInvalid,
    parse_request,
)
from runtime.unix_sockets import claim_socket_path
from runtime.update.install import InstallError, InstallResult, activate_installed, install_update
from runtime.update.status import read_status
from runtime.update.system import SystemFileError, running_system, slot_size

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660  # root and the allowed group; SO_PEERCRED is the real gate
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
FAILURES = (InstallError, SystemFileError, OSError, GrubEnvError)


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a connection, as the kernel says."""

    pid: int
    uid: int
    gid: int
    groups: frozenset[int]

    def describe(self) -> str:
        """pid, uid and gid for a log line or a refusal."""
        return f"pid {self.pid} (uid {self.uid}, gid {self.gid})"


@dataclass(frozen=True)
class HelperConfig:
    """What the helper serves and whom."""

    socket_path: Path
    group_id: int  # peers in this group (primary or supplementary) are served
    group_name: str
    uploads_dir: Path  # where the webapp stages update zips
    update_dir: Path  # the update status and install lock
    slots: SlotSet
    reboot: Callable[[], Awaitable[str]]
    system_root: Path = Path("/")  # /etc/chargeos/system.json and the keyring the zip must match
    proc: Path = Path("/proc")
    debug_ssh: Callable[[DebugSshAction], Awaitable[UnitState]] | None = None  # None: no sshd


def peer_of(connection: socket.socket, proc: Path = Path("/proc")) -> Peer:
    """The peer's credentials from SO_PEERCRED, with its supplementary groups from /proc."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return Peer(pid, uid, gid, frozenset({gid, *_supplementary_groups(proc, pid)}))


def _supplementary_groups(proc: Path, pid: int) -> set[int]:
    try:
        status = (proc / str(pid) / "status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()  # the peer is gone: only its primary group counts
    for line in status.splitlines():
        if line.startswith("Groups:"):
            return {int(group) for group in line.split()[1:]}
    return set()


class PrivilegedHelper:
    """Serves install, activate, reboot and debug-ssh to the allowed group; refuses the rest."""

    def __init__(self, config: HelperConfig) -> None:
        self._config = config
        self._installing = asyncio.Lock()
        self._installed: InstallResult | None = None  # installed here, not yet activated

    async def serve(self, listening: socket.socket | None = None) -> asyncio.Server:
        """Serve on the socket systemd handed over, else bind the configured path (a stale
        socket from a crash is replaced); the caller closes the server."""
        if listening is not None:
            return await asyncio.start_unix_server(
                self.handle, sock=listening, limit=MAX_REQUEST_BYTES
            )
        path = self._config.socket_path
        claim_socket_path(path, "privileged helper")
        server = await asyncio.start_unix_server(self.handle, path, limit=MAX_REQUEST_BYTES)
        os.chown(path, -1, self._config.group_id)
        path.chmod(SOCKET_MODE)
        return server

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: check the peer, read one request, answer it."""
        try:
            peer = peer_of(writer.get_extra_info("socket"), self._config.proc)
            reply = await self._answer(peer, reader, writer)
            writer.write(reply.model_dump_json().encode() + b"\n")
            await writer.drain()
        except (ConnectionError, BrokenPipeError) as error:
            log.info("privileged helper: the client left before the answer: %s", error)
        finally:
            writer.close()

    async def _answer(
        self, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Reply:
        config = self._config
        if config.group_id not in peer.groups:
            log.warning("privileged helper: refused %s: not in group %s", peer.describe(),
                        config.group_name)  # fmt: skip
            return Reply(
                ok=False,
                message=f"refused: {peer.describe()} is not in group {config.group_name}"
                f" (gid {config.group_id}); only the ChargeOS services may ask this helper",
            )
        try:
            line = await reader.readline()
            request = parse_request(line)
        except ValueError as error:  # RequestInvalid, or a line over MAX_REQUEST_BYTES
            reason = (
                str(error)
                if isinstance(error, RequestInvalid)
                else f"refused: a request is one JSON line of at most {MAX_REQUEST_BYTES} bytes"
            )
            log.warning("privileged helper: %s from %s", reason, peer.describe())
            return Reply(ok=False, message=reason)
        log.info("privileged helper: %s from %s", request.request, peer.describe())
        if isinstance(request, InstallRequest):
            return await self._install(request, writer)
        if isinstance(request, ActivateRequest):
            return await asyncio.to_thread(self._activate)
        if isinstance(request, DebugSshRequest):
            return await self._debug_ssh(request, peer)
        assert isinstance(request, RebootRequest)
        return Reply(ok=True, message=await config.reboot())

    async def _install(self, request: InstallRequest, writer: asyncio.StreamWriter) -> Reply:
        if self._installing.locked():
            return Reply(ok=False, message="Another update is being installed right now.")
        async with self._installing:
            loop = asyncio.get_running_loop()

            def report(step: str, fraction: float) -> None:  # called in the install thread
                line = Progress(progress=step, fraction=fraction).model_dump_json().encode()
                loop.call_soon_threadsafe(writer.write, line + b"\n")

            try:
                result = await asyncio.to_thread(self._install_staged, request, report)
            except FAILURES as error:
                log.warning("privileged helper: update not installed: %s", error)
                return Reply(ok=False, message=str(error))
        self._installed = None if result.activated else result
        return Reply(
            ok=True,
            message=f"Update {result.version} installed in slot {result.target_slot}.",
            version=result.version,
            target_slot=result.target_slot,
            activated=result.activated,
        )

    async def _debug_ssh(self, request: DebugSshRequest, peer: Peer) -> Reply:
        control = self._config.debug_ssh
        if control is None:
            return Reply(ok=False, message="There is no debug SSH server on this system.")
        try:
            unit = await control(request.action)
        except (OSError, TimeoutError) as error:
            log.error("privileged helper: debug SSH %s failed: %s", request.action, error)
            return Reply(ok=False, message=f"Debug SSH {request.action} failed: {error}")
        if request.action in ("start", "restart"):
            log.warning("privileged helper: debug SSH %s for %s: %s", request.action,
                        peer.describe(), unit.active)  # fmt: skip
        wanted = {"start": "active", "restart": "active", "stop": "inactive"}.get(request.action)
        if unit.error or (wanted is not None and unit.active != wanted):
            reason = unit.error or f"it is {unit.active}"
            return Reply(
                ok=False,
                message=f"Debug SSH did not {request.action}: {reason}"
                " (journalctl -u chargeos-debug-ssh says why).",
                debug_ssh=unit.active,
            )
        return Reply(ok=True, message=f"Debug SSH is {unit.active}.", debug_ssh=unit.active)

    def _install_staged(
        self, request: InstallRequest, report: Callable[[str, float], None]
    ) -> InstallResult:
        config = self._config
        descriptor = open_upload(config.uploads_dir, request.upload)
        try:
            root = config.system_root
            system = running_system(root, slot_size_bytes=slot_size(root))
            # The file opened here is the one verified and written, whatever the directory
            # holds meanwhile; a payload changed under it fails the install's own hash checks.
            return install_update(
                config.proc / "self" / "fd" / str(descriptor),
                system,
                config.slots,
                config.update_dir,
                activate=request.activate,
                progress=report,
            )
        finally:
            os.close(descriptor)

    def _activate(self) -> Reply:
        installed, config = self._installed, self._config
        recorded = read_status(config.update_dir)
        if (
            installed is None
            or recorded.state != "installed"
            or recorded.activated
            or recorded.version != installed.version
            or recorded.target_slot != installed.target_slot
        ):
            return Reply(
                ok=False,
                message="There is no installed update waiting to be activated: upload it again.",
            )
        try:
            status = activate_installed(config.slots, config.update_dir)
        except FAILURES as error:
            return Reply(ok=False, message=f"The update was not activated: {error}")
        self._installed = None
        return Reply(
            ok=True,
            message=f"Update {status.version} activated: slot {status.target_slot} boots next.",
            version=status.version,
            target_slot=status.target_slot,
            activated=True,
        )


def open_upload(uploads_dir: Path, name: str) -> int:
    """A read-only descriptor of the staged zip `name`: a plain file, never a link or a device."""
    path = uploads_dir / name
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InstallError(f"There is no staged update {name} in {uploads_dir}.") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InstallError(f"{path} is a symbolic link: refused, upload it again.") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InstallError(f"{path} is not a plain file: refused, upload it again.")
    return descriptor
