"""Admin: System Update and System Logs (both logins), Service Control and Debug SSH (installer
only).

System Update's routes are in webui.pages.update; this page shows its form, the install's
progress and the recorded update status. Service Control drives supervisord; "restart OS"
restarts every ChargeOS program in development and reboots only a running image. Debug SSH goes
through the privileged helper on a device (webui.debug_ssh). System Logs is a .tar.gz of the log
directory, built in a thread into a temporary file and deleted after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from runtime.config.debug_ssh_keys import PublicKeyInvalid
from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.programs import PROGRAMS
from runtime.supervisor import Action, Supervisor, SupervisorUnavailable
from runtime.update import Verdict
from webui import debug_ssh
from webui.context import STATE_KEY, WebState
from webui.log_archive import build_log_archive
from webui.login import client_address
from webui.pages.common import NOT_AVAILABLE, evse_status
from webui.pages.monitor import DOWNLOADED, log_lines
from webui.pages.transactions import download_response
from webui.rendering import render
from webui.restarts import reboot_image, running_image
from webui.roles import Role
from webui.security import current_session, require_role
from webui.updater import UPDATER_KEY
from webui.upload import CHUNK_BYTES

log = logging.getLogger(__name__)

WEBAPP = "webapp"
DEBUG_SSH = "sshd"
RESTART_DELAY_S = 1.0  # the answer reaches the browser before the web app goes
CHARGEOS_PROGRAMS = frozenset(program.name for program in PROGRAMS)
_LATER: set[asyncio.Task[None]] = set()  # delayed restarts, kept referenced until done


@dataclass(frozen=True)
class Component:
    """A row of Service Control: what the manual's Admin page lists and may do."""

    key: str
    label: str
    program: str | None  # supervisord program; None: the OS, or debug SSH (not a ChargeOS program)
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
        DEBUG_SSH,
        "Debug SSH",
        None,
        ("start", "restart", "stop"),
        "root shell on port 22; not persistent: off at restart",
    ),
)
BY_KEY = {component.key: component for component in COMPONENTS}


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
    update_error: str | None = None,
    service_result: list[str] | None = None,
    keys_error: str | None = None,
    keys_text: str | None = None,
) -> web.Response:
    """The Admin page, with an update verdict, a service control result or a refused key."""
    state = request.app[STATE_KEY]
    installer = current_session(request).role is Role.INSTALLER
    update = await request.app[UPDATER_KEY].snapshot()
    ssh = await debug_ssh.view(state.settings) if installer else None
    rows, others = await _component_rows(request, state, ssh) if installer else ([], [])
    reachable = any(row["available"] and row["component"].program for row in rows)
    return render(
        request,
        "admin.html",
        status=status,
        installer=installer,
        limit_mb=state.store.profile.webui.upload_limit_mb,
        verdict=verdict,
        update=update,
        update_error=update_error,
        service_result=service_result,
        components=rows,
        others=others,
        supervisor_down=installer and not reachable,
        debug_ssh=ssh,
        keys_error=keys_error,
        keys_text=keys_text,
    )


async def _component_rows(
    request: web.Request, state: WebState, ssh: debug_ssh.DebugSshView | None
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
        if component.key == DEBUG_SSH:
            assert ssh is not None
            rows.append(
                {"component": component, "state": ssh.state, "version": NOT_AVAILABLE,
                 "available": ssh.on_device, "unavailable": debug_ssh.ROW_ONLY_ON_A_DEVICE}
            )  # fmt: skip
            continue
        if component.program is None:
            current, shown = ("image" if running_image() else "development"), version
        elif program is None:
            current, shown = NOT_AVAILABLE, NOT_AVAILABLE
        else:
            current = program.state
            shown = version if program.name in CHARGEOS_PROGRAMS else NOT_AVAILABLE
        available = component.program is None or program is not None
        rows.append(
            {"component": component, "state": current, "version": shown, "available": available,
             "unavailable": NOT_AVAILABLE}
        )  # fmt: skip
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
    settings = request.app[STATE_KEY].settings
    supervisor = Supervisor(settings.supervisor_socket)
    status = 200
    try:
        if component.key == DEBUG_SSH:
            by = f"the {session.role} login from {client_address(request)}"
            lines, status = await debug_ssh.control(settings, _action(action), by)
        elif component.program is None:
            lines = await _restart_os(supervisor, settings.helper_socket)
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


async def _restart_os(supervisor: Supervisor, helper_socket: Path | None) -> list[str]:
    if running_image():
        _later(lambda: reboot_image(helper_socket))
        return ["The charger restarts now. Log in again in about a minute."]
    lines = await supervisor.restart_all(keep=(WEBAPP,))
    return [*lines, *await _restart_webapp(supervisor)]


async def _restart_webapp(supervisor: Supervisor) -> list[str]:
    if WEBAPP not in {program.name for program in await supervisor.programs()}:
        return [f"{WEBAPP} is not available on this charger"]
    _later(lambda: supervisor.signal(WEBAPP, "TERM"))  # autorestart starts it again
    return ["The web app restarts in a few seconds: reload this page then and log in again."]


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


# ----- debug SSH ----------------------------------------------------------------------------
async def debug_ssh_keys(request: web.Request) -> web.Response:
    """POST /admin/debug-ssh/keys: replace the installer's public keys (validated, or unchanged)."""
    require_role(request, Role.INSTALLER)
    settings = request.app[STATE_KEY].settings
    if not debug_ssh.on_device(settings):
        return await admin_page(request, status=409, keys_error=debug_ssh.ONLY_ON_A_DEVICE)
    text = str((await request.post()).get("public_keys", ""))
    try:
        keys = await debug_ssh.save_keys(settings, text)
    except PublicKeyInvalid as error:
        return await admin_page(request, status=400, keys_error=str(error), keys_text=text)
    log.warning("debug SSH: the installer's public keys replaced: %s",
                ", ".join(key.fingerprint() for key in keys) or "none")  # fmt: skip
    lines = [f"{len(keys)} public key(s) saved; a start or restart of Debug SSH uses them."]
    return await admin_page(request, service_result=lines)


async def debug_ssh_device_key(request: web.Request) -> web.StreamResponse:
    """GET /admin/debug-ssh/chargeos-debug-<identity>.key: this charger's private debug key
    (installer only), under the file name the Admin page links."""
    require_role(request, Role.INSTALLER)
    settings = request.app[STATE_KEY].settings
    if not debug_ssh.on_device(settings):
        raise web.HTTPConflict(text=debug_ssh.ONLY_ON_A_DEVICE)
    try:
        name = await debug_ssh.key_file_name(settings)
        if request.match_info["name"] != name:
            raise web.HTTPNotFound(text=f"This charger's debug key is {name}.")
        key = await debug_ssh.device_key(settings)
    except (DeviceSecretsError, OSError) as error:
        log.error("debug SSH key not downloadable: %s", error)
        reason = f"The debug SSH key cannot be read: {error}"
        raise web.HTTPServiceUnavailable(text=reason) from None
    log.warning("debug SSH: the device key downloaded from %s", client_address(request))
    response = download_response(name, "application/octet-stream")
    response.content_length = len(key)
    await response.prepare(request)
    await response.write(key)
    await response.write_eof()
    return response


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
    ("POST", "/admin/service", service),
    ("POST", "/admin/debug-ssh/keys", debug_ssh_keys),
    ("GET", "/admin/debug-ssh/{name}", debug_ssh_device_key),
    ("GET", "/admin/logs.tar.gz", system_logs),
)
