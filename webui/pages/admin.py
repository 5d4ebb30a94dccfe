"""Admin: System Update and System Logs (both logins), Service Control (installer only).

System Update's routes are in webui.pages.update; this page shows its form, the install's
progress and the recorded update status. Service Control drives supervisord; "restart OS"
restarts every ChargeOS program in development and reboots only a running image. System Logs
is a .tar.gz of the log directory, built in a thread into a temporary file and deleted after.
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

from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.programs import PROGRAMS
from runtime.supervisor import Action, Supervisor, SupervisorUnavailable
from runtime.update import Verdict
from webui.context import STATE_KEY, WebState
from webui.log_archive import build_log_archive
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
RESTART_DELAY_S = 1.0  # the answer reaches the browser before the web app goes
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
) -> web.Response:
    """The Admin page, with an update verdict or a service control result when there is one."""
    state = request.app[STATE_KEY]
    installer = current_session(request).role is Role.INSTALLER
    update = await request.app[UPDATER_KEY].snapshot()
    rows, others = await _component_rows(request, state) if installer else ([], [])
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
    settings = request.app[STATE_KEY].settings
    supervisor = Supervisor(settings.supervisor_socket)
    status = 200
    try:
        if component.program is None:
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
    ("GET", "/admin/logs.tar.gz", system_logs),
)
