"""Admin → System Update: upload, verify, install, restart into the update.

The zip is received by webui.upload (streamed, size cap, free space, a name the server chooses)
and verified against the running system (/etc/chargeos under `system_root`). A good zip from the
installer login installs at once in the app's updater (webui.updater) while the page polls
GET /admin/install/progress; any other outcome deletes the file and says why nothing was
installed. "Restart into X now" (POST /admin/install/restart) activates an update that waits for
the charging session to end.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import hdrs, web

from runtime.update import Verdict, running_system, verify_update
from runtime.update.install import InstallError
from runtime.update.system import SystemFileError, slot_size
from webui.context import STATE_KEY
from webui.pages.admin import admin_page
from webui.roles import Role
from webui.security import require_role
from webui.updater import UPDATER_KEY, Updater
from webui.upload import MB, UploadRefused, received_upload

log = logging.getLogger(__name__)

READY = " and ready to install"  # how runtime.update.verify ends a good verdict's summary
ONLY_ON_AN_IMAGE = "verified; updates install only on a ChargeOS image"
ONLY_THE_INSTALLER = "verified; only the installer login installs updates"
BUSY = "An update is being installed right now: wait until it is done."


async def upload_update(request: web.Request) -> web.Response:
    """POST /admin/update: receive the zip, verify it; install it, or delete it and say why."""
    session = require_role(request, Role.INSTALLER, Role.EV)
    state = request.app[STATE_KEY]
    updater = request.app[UPDATER_KEY]
    installer = session.role is Role.INSTALLER
    limit = state.store.profile.webui.upload_limit_mb * MB
    try:
        if installer and updater.busy:
            raise UploadRefused(409, BUSY)
        async with received_upload(request, state.settings.uploads_dir, limit) as (path, size):
            verdict = await asyncio.to_thread(verify_upload, path, state.settings.system_root)
            verdict = next_step(verdict, path, size, installer=installer, updater=updater)
        status = 200
    except UploadRefused as refused:
        verdict, status = refused.verdict, refused.status
    log.info("update upload by %s: %s (%s)", session.role, verdict.summary, status)
    if "application/json" in request.headers.get(hdrs.ACCEPT, ""):
        return web.json_response(verdict.model_dump(mode="json"), status=status)
    return await admin_page(request, status=status, verdict=verdict)


def verify_upload(path: Path, root: Path) -> Verdict:
    """The verify step against the system at `root` (its slot size when it has slots)."""
    try:
        system = running_system(root, slot_size_bytes=slot_size(root))
    except SystemFileError as error:
        log.error("update verify impossible: %s", error)
        return Verdict(
            ok=False,
            summary="This charger cannot check updates: its system description is damaged.",
            details=[str(error)],
        )
    return verify_update(path, system)


def next_step(
    verdict: Verdict, path: Path, size: int, *, installer: bool, updater: Updater
) -> Verdict:
    """Start installing a good update (the updater takes the file), or say why not."""
    deleted = f"Nothing was installed; the uploaded file ({size / MB:.1f} MB) was deleted."
    if not verdict.ok or verdict.manifest is None:
        return verdict.model_copy(update={"details": [*verdict.details, deleted]})
    good = verdict.summary.removesuffix(READY)
    if updater.settings.slots is None:
        refusal = f"{good} and {ONLY_ON_AN_IMAGE}."
    elif not installer:
        refusal = f"{good} and {ONLY_THE_INSTALLER}."
    elif updater.busy:
        refusal = f"{good}, but another update is being installed: wait until it is done."
    else:
        updater.start_install(path, verdict.manifest.version)
        return verdict.model_copy(update={"summary": f"{good} and is being installed."})
    return Verdict(
        ok=False, summary=refusal, details=[*verdict.details, deleted], manifest=verdict.manifest
    )


async def install_progress(request: web.Request) -> web.Response:
    """GET /admin/install/progress: the install's step and percentage, then its outcome."""
    require_role(request, Role.INSTALLER)
    snapshot = await request.app[UPDATER_KEY].snapshot()
    return web.json_response(snapshot.model_dump(mode="json"))


async def restart_into_update(request: web.Request) -> web.Response:
    """POST /admin/install/restart: activate the waiting update and reboot (ends the session)."""
    session = require_role(request, Role.INSTALLER)
    try:
        await request.app[UPDATER_KEY].restart_now()
    except InstallError as error:
        log.info("restart into the update refused: %s", error)
        return await admin_page(request, status=409, update_error=str(error))
    log.warning("restart into the update requested by %s", session.role)
    return await admin_page(request)


ROUTES = (
    ("POST", "/admin/update", upload_update),
    ("GET", "/admin/install/progress", install_progress),
    ("POST", "/admin/install/restart", restart_into_update),
)
