"""The web app's updater: installs one verified upload at a time, then restarts into it.

The install runs in a thread inside a task the app owns (cleanup_ctx: started with the app,
cancelled with it), with the LED blinking blue/green meanwhile (renewed every 10 s, so a crashed
web app leaves no blinking behind). Once installed: when the evse says no charging session is
open the update is activated and the charger reboots; otherwise it waits, polling the evse
status, until the session ends or the installer presses "Restart into X now". An evse that does
not answer (down, restarting, too slow) means a car may be charging: the update waits and the
page says so; it never restarts on an unknown. An update left waiting is picked up at start.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from runtime.boot.grubenv import GrubEnvError
from runtime.boot.slots import SlotSet
from runtime.evse.api_models import UPDATING_LIFETIME_S
from runtime.evse.client import EvseApiError, EvseClient, EvseUnavailable
from runtime.evse.states import STATE_LOOKS
from runtime.evse.status import EvseStatus
from runtime.privileged.client import HelperClient, HelperError
from runtime.update import running_system
from runtime.update.install import (
    InstallError,
    InstallResult,
    Progress,
    activate_installed,
    install_update,
    open_install_lock,
)
from runtime.update.report import failed_words, installed_words, status_words, step_words
from runtime.update.status import UpdateStatus, read_status, write_status
from runtime.update.system import SystemFileError, slot_size
from webui.context import WebSettings, WebState
from webui.restarts import reboot_image

log = logging.getLogger(__name__)

Phase = Literal["idle", "installing", "waiting", "restarting", "failed", "done"]
Session = Literal["open", "closed", "unknown"]  # what the evse said; unknown: it did not answer
INSTALLING_ZIP = "installing.zip"  # the verified upload, in the uploads directory while it installs
LED_RENEW_S = 10.0  # well inside the evse's UPDATING_LIFETIME_S
SESSION_POLL_S = 5.0
SESSION_WAIT_LIMIT_S = 24 * 3600.0  # then only "Restart into X now" activates it
REBOOT_DELAY_S = 3.0  # the page's next progress poll reads "restarts now" before the charger goes
EVSE_TIMEOUT_S = 2.0
IN_SESSION = frozenset(state.value for state, look in STATE_LOOKS.items() if look.in_session)
INSTALL_ERRORS = (InstallError, SystemFileError, OSError, GrubEnvError, HelperError)


class InstallProgress(BaseModel):
    """GET /admin/install/progress: what the System Update section shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: Phase
    version: str | None = None
    step: str = ""  # Checking, Writing the new system, Checking what was written, Done
    percent: int = Field(0, ge=0, le=100)
    message: str = ""
    restart_now: bool = False  # offer "Restart into X now (ends the charging session)"
    restart_label: str = ""
    evse_unanswered: int = Field(0, ge=0)  # waiting: status requests the evse left unanswered


def session_open(status: EvseStatus) -> bool:
    """A charging session is open or energy flows (an update must not end it unasked)."""
    return status.transaction is not None or status.state in IN_SESSION or status.contactor_closed


def unknown_words(reason: str, unanswered: int) -> str:
    """Why a waiting update does not start although no session is known to be open."""
    return (
        f"The charging controller does not answer ({reason}), so a car may be charging: the"
        f" charger does not restart until it answers that no session is open (asked"
        f" {unanswered} time{'s' if unanswered != 1 else ''} so far)."
    )


def restart_label(version: str | None) -> str:
    """The button that activates a waiting update and ends the session."""
    return f"Restart into {version} now (ends the charging session)"


class Updater:
    """One install at a time, and what follows it; every task it starts ends with the app."""

    def __init__(self, state: WebState) -> None:
        self._state = state
        self.reboot: Callable[[], Awaitable[str]] = self.default_reboot
        self.poll_s = SESSION_POLL_S
        self.reboot_delay_s = REBOOT_DELAY_S
        self.evse_timeout_s = EVSE_TIMEOUT_S
        self._evse_silent: str | None = None  # why the evse's last status request failed
        self._unanswered = 0  # consecutive status requests the evse left unanswered
        self._phase: Phase = "idle"  # what this process did; the recorded status says the rest
        self._version: str | None = None
        self._step: tuple[str | None, float] = (None, 0.0)
        self._message = ""
        self._install: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._activating = asyncio.Lock()  # the watcher and "Restart into X now" may meet

    @property
    def settings(self) -> WebSettings:
        """The web app's settings now (tests swap them)."""
        return self._state.settings

    @property
    def busy(self) -> bool:
        """An install runs."""
        return self._install is not None and not self._install.done()

    # ----- install --------------------------------------------------------------------------
    def start_install(self, upload: Path, version: str) -> None:
        """Take the verified upload (moved aside, so the upload's cleanup leaves it) and install."""
        zip_path = upload.rename(upload.with_name(INSTALLING_ZIP))
        self._phase, self._version, self._step, self._message = "installing", version, (None, 0), ""
        if self._watch is not None:
            self._watch.cancel()  # a newer update replaces one waiting for its session to end
        self._install = self._spawn(self._run_install(zip_path, version))

    async def _run_install(self, zip_path: Path, version: str) -> None:
        blinking = self._spawn(self._blink_led())
        try:
            version, target_slot = await self._install_zip(zip_path)
        except INSTALL_ERRORS as error:
            self._fail(version, str(error))
            return
        except Exception as error:  # a bug must not leave the page saying "installing"
            log.exception("update %s: the install failed", version)
            self._fail(version, f"internal error ({type(error).__name__}); see the system logs.")
            return
        finally:
            blinking.cancel()
            await self._tell_evse(updating=False)
            await asyncio.to_thread(zip_path.unlink, missing_ok=True)
        self._step = ("done", 1.0)
        log.info("update %s installed in slot %s", version, target_slot)
        if await self._session() == "closed":
            await self._activate_and_reboot(version)
        else:
            self._phase = "waiting"
            self._watch = self._spawn(self._wait_for_session_end(version))

    async def _install_zip(self, zip_path: Path) -> tuple[str, str]:
        """Install without activating: through the privileged helper on a device, else here."""
        helper = self.settings.helper_socket
        if helper is None:
            reporter = self._progress_reporter()
            result = await asyncio.to_thread(_install, zip_path, self.settings, reporter)
            return result.version, result.target_slot
        # The helper opens the staged file by its name in its own uploads directory (the same
        # /data/uploads) and verifies it itself before it writes the slot.
        reply = await HelperClient(helper).install(zip_path.name, progress=self._progressed)
        if reply.version is None or reply.target_slot is None:
            raise HelperError(f"the privileged helper installed nothing it could name: {reply}")
        return reply.version, reply.target_slot

    async def _activate(self, slots: SlotSet) -> None:
        helper = self.settings.helper_socket
        if helper is None:
            await asyncio.to_thread(activate_installed, slots, self.settings.update_dir)
        else:
            await HelperClient(helper).activate()

    async def default_reboot(self) -> str:
        """Reboot an image (through the privileged helper when it has one); what happened."""
        return await reboot_image(self.settings.helper_socket)

    def _progress_reporter(self) -> Progress:
        loop = asyncio.get_running_loop()

        def report(step: str, fraction: float) -> None:  # called in the install thread
            loop.call_soon_threadsafe(self._progressed, step, fraction)

        return report

    def _progressed(self, step: str, fraction: float) -> None:
        self._step = (step, fraction)

    def _fail(self, version: str | None, reason: str) -> None:
        log.warning("update %s not installed: %s", version, reason)
        self._phase, self._message = "failed", failed_words(version, reason)

    # ----- after the install ----------------------------------------------------------------
    async def restart_now(self) -> None:
        """The installer's "Restart into X now": activate the waiting update, end the session."""
        recorded = await asyncio.to_thread(_recorded, self.settings.update_dir)
        if self.settings.slots is None or not _waiting(recorded) or self.busy:
            raise InstallError("There is no installed update waiting to be activated.")
        await self._activate_and_reboot(recorded.version)  # the watcher then finds it done

    async def _wait_for_session_end(self, version: str | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SESSION_WAIT_LIMIT_S
        while loop.time() < deadline:
            await asyncio.sleep(self.poll_s)
            if await self._session() == "closed":
                log.info("no charging session open: starting update %s", version)
                await self._activate_and_reboot(version)
                return
        log.warning(
            "update %s waited %.0f h for the charging session to end (or the charging controller"
            " to answer): given up; only Restart now activates it",
            version,
            SESSION_WAIT_LIMIT_S / 3600,
        )

    async def _activate_and_reboot(self, version: str | None) -> None:
        async with self._activating:
            slots = self.settings.slots
            if slots is None or self._phase == "restarting":
                return
            try:
                await self._activate(slots)
            except (InstallError, OSError, GrubEnvError, HelperError) as error:
                self._fail(version, str(error))
                return
            self._phase, self._version = "restarting", version
            self._message = installed_words(version, activated=True)
            self._spawn(self._reboot_soon())

    async def _reboot_soon(self) -> None:
        await asyncio.sleep(self.reboot_delay_s)
        log.warning("restarting into the update: %s", await self.reboot())

    # ----- the evse: sessions and the LED ---------------------------------------------------
    async def _session(self) -> Session:
        """Open, closed, or unknown when the evse does not answer (then a car may be charging)."""
        try:
            async with EvseClient(self.settings.evse_socket, timeout_s=self.evse_timeout_s) as evse:
                status = await evse.status()
        except (EvseUnavailable, EvseApiError, TimeoutError) as error:
            reason = _reason(error, self.evse_timeout_s)
            if self._evse_silent is None:  # logged once per silence, not at every poll
                log.warning("update waits: the charging controller does not answer (%s)", reason)
            self._evse_silent, self._unanswered = reason, self._unanswered + 1
            return "unknown"
        if self._evse_silent is not None:
            log.info("the charging controller answers again")
        self._evse_silent, self._unanswered = None, 0
        return "open" if session_open(status) else "closed"

    async def _blink_led(self) -> None:
        while True:
            await self._tell_evse(updating=True)
            await asyncio.sleep(LED_RENEW_S)

    async def _tell_evse(self, *, updating: bool) -> None:
        try:
            async with EvseClient(self.settings.evse_socket, timeout_s=EVSE_TIMEOUT_S) as evse:
                await evse.set_updating(updating, duration_s=UPDATING_LIFETIME_S)
        except (EvseUnavailable, EvseApiError, TimeoutError) as error:
            log.info("the LED does not show the update: %s", error)

    # ----- what the page shows --------------------------------------------------------------
    async def snapshot(self) -> InstallProgress:
        """This process's install, else the recorded status, for the page and its polling."""
        recorded = await asyncio.to_thread(_recorded, self.settings.update_dir)
        if self._phase in ("installing", "restarting", "failed"):
            step, fraction = self._step
            installing = self._phase == "installing"
            return InstallProgress(
                phase=self._phase,
                version=self._version,
                step=step_words(step, fraction) if installing else "",
                percent=round(fraction * 100) if installing else 0,
                message=f"Installing update {self._version}." if installing else self._message,
            )
        if self.settings.slots is not None and _waiting(recorded):
            message = installed_words(recorded.version, activated=False)
            if self._evse_silent is not None:
                message += " " + unknown_words(self._evse_silent, self._unanswered)
            return InstallProgress(
                phase="waiting",
                version=recorded.version,
                message=message,
                restart_now=True,
                restart_label=restart_label(recorded.version),
                evse_unanswered=self._unanswered,
            )
        if recorded.state == "idle":
            return InstallProgress(phase="idle")
        phase: Phase = "failed" if recorded.state in ("failed", "rolled-back") else "done"
        return InstallProgress(
            phase=phase, version=recorded.version, message=status_words(recorded)
        )

    # ----- the app's lifecycle --------------------------------------------------------------
    async def resume(self) -> None:
        """At start: forget a half-installed upload, settle an interrupted install, and wait
        again for the session to end when an installed update was left waiting."""
        settings = self.settings
        leftover = settings.uploads_dir / INSTALLING_ZIP
        await asyncio.to_thread(leftover.unlink, missing_ok=True)
        try:
            recorded = await asyncio.to_thread(_settle_interrupted, settings.update_dir)
        except OSError as error:
            log.error("update status in %s unusable: %s", settings.update_dir, error)
            return
        if settings.slots is not None and _waiting(recorded):
            log.info("update %s waits for the charging session to end", recorded.version)
            self._watch = self._spawn(self._wait_for_session_end(recorded.version))

    async def close(self) -> None:
        """Cancel every task (an install thread finishes its write; the status stays true)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _reason(error: Exception, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, EvseUnavailable):
        return "it is not running"
    return str(error)


def _install(zip_path: Path, settings: WebSettings, progress: Progress) -> InstallResult:
    """Verify and install against the running system, never activating (decided after)."""
    if settings.slots is None:
        raise InstallError("Updates install only on a ChargeOS image.")
    root = settings.system_root
    system = running_system(root, slot_size_bytes=slot_size(root))
    return install_update(
        zip_path, system, settings.slots, settings.update_dir, activate=False, progress=progress
    )


def _waiting(status: UpdateStatus) -> bool:
    return status.state == "installed" and not status.activated


def _recorded(state_dir: Path) -> UpdateStatus:
    """The recorded status; idle (and a log line) when the data partition cannot be read."""
    try:
        return read_status(state_dir)
    except OSError as error:
        log.error("update status in %s unreadable: %s", state_dir, error)
        return UpdateStatus()


def _settle_interrupted(state_dir: Path) -> UpdateStatus:
    """A status left at "installing" with nobody holding the install lock was interrupted."""
    status = read_status(state_dir)
    if status.state != "installing":
        return status
    lock = open_install_lock(state_dir)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return status  # the privileged helper or `python -m runtime.update install` runs
        reason = (
            "the install was interrupted (the charger restarted or lost power); the running "
            "system is unchanged. Upload the update again."
        )
        return write_status(state_dir, status.model_copy(update={
            "state": "failed", "message": failed_words(status.version, reason),
        }))  # fmt: skip
    finally:
        os.close(lock)


UPDATER_KEY = web.AppKey("updater", Updater)


async def updates_in_background(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the updater's tasks live exactly as long as the app."""
    updater = app[UPDATER_KEY]
    await updater.resume()
    yield
    await updater.close()
