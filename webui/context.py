"""What the web configurator works with: its settings and the objects every handler shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from jinja2 import Environment

from runtime.boot.slots import SlotSet
from runtime.config.store import ConfigStore
from webui.sessions import LoginGuard, SessionStore

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class WebSettings:
    """Where the webapp finds the charger's data and the other services."""

    data_dir: Path
    evse_socket: Path
    supervisor_socket: Path
    version: str
    uploads_dir: Path
    default_profile: Path  # what "reset to default" restores
    clock: Callable[[], float] = field(default=time.monotonic)
    system_root: Path = Path("/")  # where /etc/chargeos/system.json and the slots are
    update_dir: Path = Path("/data/update")  # the update status (as the health check reads it)
    slots: SlotSet | None = None  # the A/B slots on an image; None: updates do not install
    helper_socket: Path | None = None  # the privileged helper on an image: installs, reboots


@dataclass
class WebState:
    """Shared objects of one webapp process."""

    settings: WebSettings
    store: ConfigStore
    sessions: SessionStore
    guard: LoginGuard
    templates: Environment


STATE_KEY = web.AppKey("state", WebState)
