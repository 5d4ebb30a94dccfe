"""What the updater says to people: an install's steps and the recorded status, in the same
words on the Admin page and from `python -m runtime.update`.

The installer reports (step, fraction); a person reads four steps: checking the zip, writing
the new system, checking what was written, done.
"""

from __future__ import annotations

from runtime.update.status import UpdateStatus

CHECKING = "Checking"
WRITING = "Writing the new system"
READING_BACK = "Checking what was written"
DONE = "Done"


def step_words(step: str | None, fraction: float) -> str:
    """The step a person reads for the installer's last report (None: nothing reported yet)."""
    if step is None:
        return CHECKING
    if step == "done":
        return DONE
    if step == "read-back":
        return READING_BACK
    return WRITING


def installed_words(version: str | None, *, activated: bool) -> str:
    """An installed update: restarting into it, or waiting for the charging session to end."""
    if activated:
        return f"Update {version} installed. The charger restarts into it now."
    return f"Update {version} installed; it starts when the charging session ends."


def failed_words(version: str | None, reason: str) -> str:
    """A failed install: the version, then the installer's reason."""
    if reason.startswith(f"Update {version} "):
        return reason
    return f"Update {version} failed: {reason}"


def status_words(status: UpdateStatus) -> str:
    """The recorded status as one sentence (e.g. "Update 0.3.0 failed and was rolled back.")."""
    if status.state == "failed":
        return failed_words(status.version, status.message or "the install did not finish.")
    if status.state == "installed" and not status.activated:
        return installed_words(status.version, activated=False)
    if status.state == "installed":
        return f"Update {status.version} is installed; the charger starts it at its next restart."
    return status.describe()
