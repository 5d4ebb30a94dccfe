"""Admin: System Update and System Logs (both logins), Service Control (installer only).

System Update streams the zip (request.multipart/read_chunk) into the uploads directory under a
name the server chooses, within the profile's size cap and the free space, asks the OTA verify
step and deletes the file after its verdict. Service Control drives supervisord; "restart OS"
restarts every ChargeOS program in development and reboots only a running image. System Logs is
a .tar.gz of the log directory, built in a thread into a temporary file and deleted after.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, hdrs, web

from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.programs import PROGRAMS
from runtime.supervisor import Action, Supervisor, SupervisorUnavailable
from runtime.update import Verdict, verify_update
from webui.context import STATE_KEY, WebState
from webui.log_archive import build_log_archive
from webui.pages.common import NOT_AVAILABLE, evse_status
from webui.pages.monitor import DOWNLOADED, log_lines
from webui.pages.transactions import download_response
from webui.rendering import render
from webui.roles import Role
from webui.security import current_session, require_role

log = logging.getLogger(__name__)

MB = 1024 * 1024
CHUNK_BYTES = 256 * 1024
UPLOAD_FIELD = "update"
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file
FREE_SPACE_RESERVE = 64 * MB  # the data partition keeps room for transactions and logs
WEBAPP = "webapp"
RESTART_DELAY_S = 1.0  # the answer reaches the browser before the web app goes
IMAGE_MARKER = Path("/etc/chargeos-image")  # written into a built image's root filesystem
IMAGE_ENV = "CHARGEOS_IMAGE"
REBOOT_COMMAND = ("systemctl", "reboot")
CHARGEOS_PROGRAMS = frozenset(program.name for program in PROGRAMS)
_LATER: set[asyncio.Task[None]] = set()  # delayed restarts, kept referenced until done


@dataclass(frozen=True)
class Component:
    """A row of Service Control: what the manual's Admin page lists and may do."""

    key: str
    label: str
    program: str | None  # supervisord program; None: the OS
    actions: tuple[Action, ...]
    note: str


COMPONENTS: tuple[Component, ...] = (
    Component("evse", "EVSE(s)", "evse", ("restart",), "charging controller; a session ends"),
    Component(
        "os", "OS", None, ("restart",), "every ChargeOS program restarts; log in again after"
    ),
    Component(
        "scc", "SCC client", "scc", ("start", "restart", "stop"), "OCPP backoffice connection"
    ),
    Component("webapp", "Web app", WEBAPP, ("restart",), "this configurator; log in again after"),
    Component(
        "sshd", "Debug SSH", "sshd", ("start", "restart", "stop"), "not persistent: off at restart"
    ),
)
BY_KEY = {component.key: component for component in COMPONENTS}


class UploadRefused(Exception):
    """An upload that ends before a verdict; the answer's status and words."""

    def __init__(self, status: int, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.status = status
        self.verdict = Verdict(ok=False, summary=summary, details=list(details))


def running_image(marker: Path = IMAGE_MARKER, environ: Mapping[str, str] = os.environ) -> bool:
    """True on a built ChargeOS image (reboot allowed), False in development."""
    return environ.get(IMAGE_ENV) == "1" or marker.exists()


# ----- page ---------------------------------------------------------------------------------
async def admin(request: web.Request) -> web.Response:
    """GET /admin."""
    require_role(request, Role.INSTALLER, Role.EV)
    return await admin_page(request)


async def admin_page(
    request: web.Request,
    *,
    status: int = 200,
    verdict: Verdict | None = None,
    service_result: list[str] | None = None,
) -> web.Response:
    """The Admin page, with an update verdict or a service control result when there is one."""
    state = request.app[STATE_KEY]
    installer = current_session(request).role is Role.INSTALLER
    rows, others = await _component_rows(request, state) if installer else ([], [])
    reachable = any(row["available"] and row["component"].program for row in rows)
    return render(
        request,
        "admin.html",
        status=status,
        installer=installer,
        limit_mb=state.store.profile.webui.upload_limit_mb,
        verdict=verdict,
        service_result=service_result,
        components=rows,
        others=others,
        supervisor_down=installer and not reachable,
    )


async def _component_rows(
    request: web.Request, state: WebState
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    supervisor = Supervisor(state.settings.supervisor_socket)
    try:
        programs = {program.name: program for program in await supervisor.programs()}
    except SupervisorUnavailable as error:
        log.info("service control: %s", error)
        programs = {}
    version = state.settings.version
    rows = []
    for component in COMPONENTS:
        program = programs.get(component.program or "")
        if component.program is None:
            current, shown = ("image" if running_image() else "development"), version
        elif program is None:
            current, shown = NOT_AVAILABLE, NOT_AVAILABLE
        else:
            current = program.state
            shown = version if program.name in CHARGEOS_PROGRAMS else NOT_AVAILABLE
        available = component.program is None or program is not None
        rows.append(
            {"component": component, "state": current, "version": shown, "available": available}
        )
    listed = {component.program for component in COMPONENTS}
    others = [
        {"name": p.name, "state": p.state, "version": version}
        for p in programs.values()
        if p.name not in listed and p.name in CHARGEOS_PROGRAMS
    ]
    evse = await evse_status(request)
    board = evse.power_board if evse is not None and evse.power_board else NOT_AVAILABLE
    others.append({"name": "EVSE power board", "state": "", "version": board})
    return rows, others


# ----- service control ----------------------------------------------------------------------
async def service(request: web.Request) -> web.Response:
    """POST /admin/service: one command of the Service Control table (installer only)."""
    session = require_role(request, Role.INSTALLER)
    command = str((await request.post()).get("command", ""))
    key, _, action = command.partition(".")
    component = BY_KEY.get(key)
    if component is None or action not in component.actions:
        raise web.HTTPBadRequest(text=f"unknown service command {command!r}")
    supervisor = Supervisor(request.app[STATE_KEY].settings.supervisor_socket)
    status = 200
    try:
        if component.program is None:
            lines = await _restart_os(supervisor)
        elif component.program == WEBAPP:
            lines = await _restart_webapp(supervisor)
        else:
            lines = [await supervisor.control(component.program, _action(action))]
    except SupervisorUnavailable as error:
        log.warning("service control %s: %s", command, error)
        lines = [f"Service control {NOT_AVAILABLE}: the process supervisor does not answer."]
        status = 503
    log.info("service control %s by %s: %s", command, session.role, "; ".join(lines))
    return await admin_page(request, status=status, service_result=lines)


def _action(text: str) -> Action:
    actions: dict[str, Action] = {"start": "start", "stop": "stop", "restart": "restart"}
    return actions[text]


async def _restart_os(supervisor: Supervisor) -> list[str]:
    if running_image():
        _later(_reboot)
        return ["The charger restarts now. Log in again in about a minute."]
    lines = await supervisor.restart_all(keep=(WEBAPP,))
    return [*lines, *await _restart_webapp(supervisor)]


async def _restart_webapp(supervisor: Supervisor) -> list[str]:
    if WEBAPP not in {program.name for program in await supervisor.programs()}:
        return [f"{WEBAPP} is not available on this charger"]
    _later(lambda: supervisor.signal(WEBAPP, "TERM"))  # autorestart starts it again
    return ["The web app restarts in a few seconds: reload this page then and log in again."]


async def _reboot() -> str:
    result = await asyncio.to_thread(subprocess.run, REBOOT_COMMAND, check=False, timeout=60)
    return f"reboot requested (exit status {result.returncode})"


def _later(action: Callable[[], Awaitable[str]]) -> None:
    async def run() -> None:
        await asyncio.sleep(RESTART_DELAY_S)
        try:
            log.info("delayed restart: %s", await action())
        except (SupervisorUnavailable, OSError, subprocess.SubprocessError) as error:
            log.error("delayed restart failed: %s", error)

    task = asyncio.get_running_loop().create_task(run())
    _LATER.add(task)
    task.add_done_callback(_LATER.discard)


# ----- system update ------------------------------------------------------------------------
async def install_update(request: web.Request) -> web.Response:
    """POST /admin/update: receive the update zip, verify it, delete it, show the verdict."""
    session = require_role(request, Role.INSTALLER, Role.EV)
    state = request.app[STATE_KEY]
    limit = state.store.profile.webui.upload_limit_mb * MB
    try:
        verdict, status = await _receive_and_verify(request, state.settings.uploads_dir, limit), 200
    except UploadRefused as refused:
        verdict, status = refused.verdict, refused.status
    log.info("update upload by %s: %s (%s)", session.role, verdict.summary, status)
    if "application/json" in request.headers.get(hdrs.ACCEPT, ""):
        return web.json_response(verdict.model_dump(), status=status)
    return await admin_page(request, status=status, verdict=verdict)


async def _receive_and_verify(request: web.Request, uploads: Path, limit: int) -> Verdict:
    declared = request.content_length
    if declared is not None and declared > limit + MULTIPART_SLACK:
        raise _too_large(limit)
    if request.content_type != "multipart/form-data":
        raise _no_file()
    await asyncio.to_thread(uploads.mkdir, mode=0o700, parents=True, exist_ok=True)
    with _upload_slot(uploads) as free:
        if not free:
            raise UploadRefused(409, "Another update is being uploaded: wait until it is done.")
        await asyncio.to_thread(_remove_leftovers, uploads)
        _check_space(uploads, min(declared or limit, limit))
        path = uploads / f"update-{secrets.token_hex(8)}.zip"  # never the browser's file name
        try:
            size = await _receive(request, path, limit)
            verdict = await asyncio.to_thread(verify_update, path)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)
    deleted = f"Nothing was installed; the uploaded file ({size / MB:.1f} MB) was deleted."
    return verdict.model_copy(update={"details": [*verdict.details, deleted]})


async def _receive(request: web.Request, path: Path, limit: int) -> int:
    try:
        part = await _file_part(await request.multipart())
    except ValueError as error:
        raise _no_file(str(error)) from None
    size = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a new file only
    with os.fdopen(descriptor, "wb") as file:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            try:
                await asyncio.to_thread(file.write, chunk)
            except OSError as error:
                raise UploadRefused(
                    507, "The charger ran out of space while receiving the update.", str(error)
                ) from None
    return size


async def _file_part(reader: MultipartReader) -> BodyPartReader:
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name == UPLOAD_FIELD:
            log.info("receiving an update the browser calls %r", part.filename)
            return part
        await part.release()
    raise _no_file()


@contextlib.contextmanager
def _upload_slot(directory: Path) -> Iterator[bool]:
    """One upload at a time (an advisory lock on the directory, released if we die)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)


def _remove_leftovers(directory: Path) -> None:
    for leftover in directory.glob("update-*.zip"):
        log.warning("removing %s left by an interrupted upload", leftover.name)
        leftover.unlink(missing_ok=True)


def _check_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed + FREE_SPACE_RESERVE:
        raise UploadRefused(
            507,
            "Not enough free space on the charger for this update.",
            f"{free / MB:.0f} MB free; the upload needs up to {needed / MB:.0f} MB"
            f" and {FREE_SPACE_RESERVE // MB} MB stay free for transactions and logs",
        )


def _too_large(limit: int) -> UploadRefused:
    return UploadRefused(
        413,
        f"The file is larger than the {limit // MB} MB this charger accepts: it is not an update"
        " for this charger. Nothing was kept.",
    )


def _no_file(*details: str) -> UploadRefused:
    return UploadRefused(
        400, "No update file received: choose the update .zip, then Install Update.", *details
    )


# ----- system logs --------------------------------------------------------------------------
async def system_logs(request: web.Request) -> web.StreamResponse:
    """GET /admin/logs.tar.gz: every log for a service ticket, streamed from a deleted file."""
    require_role(request, Role.INSTALLER, Role.EV)
    state = request.app[STATE_KEY]
    settings = state.settings
    now = dt.datetime.now(dt.UTC)
    try:
        secrets_ = await asyncio.to_thread(load_device_secrets, settings.data_dir)
        identity = secrets_.charger_identity
    except DeviceSecretsError:
        identity = "charger"
    root = f"chargeos-logs_{identity}_{now:%Y%m%dT%H%M%SZ}"
    events = await log_lines(request, DOWNLOADED, errors_only=False)
    about = (
        f"ChargeOS {settings.version}\ncharger identity: {identity}\n"
        f"created: {now.isoformat(timespec='seconds')}\n"
        f"time zone: {state.store.profile.system.timezone}\n"
    )
    extra = {
        "about.txt": about,
        "event-log.txt": "".join(f"{line}\n" for line in reversed(events))
        if events is not None
        else f"event log {NOT_AVAILABLE}: the charging controller did not answer\n",
    }
    await asyncio.to_thread(settings.uploads_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
    archive = await asyncio.to_thread(
        build_log_archive, settings.data_dir / "log", settings.uploads_dir, root, extra
    )
    try:
        file = archive.open("rb")
    finally:
        await asyncio.to_thread(archive.unlink)  # gone once closed, even if we die meanwhile
    with file:
        response = download_response(f"{root}.tar.gz", "application/gzip")
        response.content_length = os.fstat(file.fileno()).st_size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
            await response.write(chunk)
    await response.write_eof()
    return response


ROUTES = (
    ("GET", "/admin", admin),
    ("POST", "/admin/update", install_update),
    ("POST", "/admin/service", service),
    ("GET", "/admin/logs.tar.gz", system_logs),
)
