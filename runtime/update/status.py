"""The update status on the data partition: what the last update did, kept across reboots.

One small JSON file, replaced atomically at every stage, so a power cut leaves either the old or
the new status, and the next boot's health check can tell a committed update from one that was
rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.config.atomic import atomic_write_text

State = Literal["idle", "installing", "installed", "failed", "committed", "rolled-back"]
STATUS_FILE = "status.json"


class UpdateStatus(BaseModel):
    """What the last update did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: State = "idle"
    version: str | None = None  # the update's version
    from_version: str | None = None
    from_slot: Literal["A", "B"] | None = None
    target_slot: Literal["A", "B"] | None = None
    activated: bool = False  # the bootloader was told to try the target next
    message: str = ""
    updated_at: datetime | None = None

    def describe(self) -> str:
        """The status in words for the Admin page."""
        return (
            self.message
            or {
                "idle": "No update has been installed.",
                "installing": f"Installing update {self.version}.",
                "installed": f"Update {self.version} is installed.",
                "failed": f"Update {self.version} failed.",
                "committed": f"Update {self.version} is running.",
                "rolled-back": f"Update {self.version} failed and was rolled back.",
            }[self.state]
        )


def status_path(state_dir: Path) -> Path:
    """The status file in the update directory of the data partition."""
    return state_dir / STATUS_FILE


def read_status(state_dir: Path) -> UpdateStatus:
    """The recorded status; idle when none was recorded (or it cannot be read)."""
    try:
        return UpdateStatus.model_validate_json(status_path(state_dir).read_bytes())
    except (FileNotFoundError, ValidationError):
        return UpdateStatus()


def write_status(state_dir: Path, status: UpdateStatus) -> UpdateStatus:
    """Record a status atomically (with the time it was written); return it."""
    stamped = status.model_copy(update={"updated_at": datetime.now(UTC)})
    state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(status_path(state_dir), stamped.model_dump_json(indent=2) + "\n")
    return stamped
