"""Installer page (installer login only): time zone, current limit, installer details, tilt/bump,
phases and phase rotation, external metering with the CT clamp table, the latched faults with
their clear action, reset to default.
"""

from __future__ import annotations

import asyncio
import logging
import zoneinfo
from dataclasses import dataclass
from functools import cache

from aiohttp import web

from runtime.config.errors import ProfileInvalid
from runtime.config.profile_text import read_profile_text
from runtime.config.store import ProfileNotSaved
from runtime.evse.client import EvseApiError, EvseUnavailable
from runtime.evse.faults import Latch
from runtime.evse.status import EvseStatus
from webui.context import STATE_KEY
from webui.forms import Form, FormField
from webui.pages.common import SAVE_ALL, evse_client, evse_status, settings_page
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role

log = logging.getLogger(__name__)

CLEARED_BY = "installer (web configurator)"  # who cleared, as the event log records it
CALIBRATING_FORMS = frozenset({SAVE_ALL, "tilt"})  # "Saving also calibrates"
ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
ROTATION_LABELS = {
    "RST": "L1-L2-L3",
    "RTS": "L1-L3-L2",
    "SRT": "L2-L1-L3",
    "STR": "L2-L3-L1",
    "TRS": "L3-L1-L2",
    "TSR": "L3-L2-L1",
}


@cache
def _zones() -> tuple[tuple[str, str], ...]:
    return tuple((zone, zone) for zone in sorted(zoneinfo.available_timezones()))


def _clamp(index: int) -> tuple[FormField, ...]:
    base = f"metering.external.clamps.{index}"
    number = index + 1
    return (
        FormField(f"{base}.enabled", f"Clamp #{number} On/Off", "toggle"),
        FormField(
            f"{base}.type",
            f"Clamp #{number} Type",
            "select",
            options=(("source", "Source"), ("site", "Site"), ("load", "Load")),
        ),
        FormField(f"{base}.rating_a", f"Clamp #{number} Rating [A]", "integer", hint="default 80"),
    )


def forms() -> tuple[Form, ...]:
    """The Installer page's forms (built per request: the zone list is long)."""
    return (
        Form(
            "timezone",
            "Timezone",
            (FormField("system.timezone", "Timezone", "select", options=_zones()),),
            applies_to=(),
        ),
        Form(
            "charger",
            "Charger Settings",
            (
                FormField(
                    "electrical.current_limit_a",
                    "Charger Current Limit [6 - 63A]",
                    "integer",
                    hint="must match the breaker in the meter cabinet",
                ),
            ),
        ),
        Form(
            "installer",
            "Installer Info",
            (
                FormField("system.installer.name", "Installer Name"),
                FormField("system.installer.company", "Installer Company"),
                FormField("system.installer.email", "Installer Email", "email", optional=True),
            ),
            applies_to=(),
        ),
        Form(
            "tilt",
            "Tilt/Bump Detection",
            (
                FormField("safety.tilt_bump.enabled", "Enabled", "toggle"),
                FormField("safety.tilt_bump.tilt_angle_deg", "Tilt Angle [1 - 80°]", "integer"),
                FormField(
                    "safety.tilt_bump.bump_acceleration_g", "Bump Acceleration [1 - 15g]", "integer"
                ),
            ),
            intro="Saving also calibrates: the charger's position now becomes its rest position.",
        ),
        Form(
            "phases",
            "Phase Settings",
            (
                FormField(
                    "electrical.phases",
                    "Phase Selection",
                    "select",
                    integer_choices=True,
                    options=(("1", "Single-Phase"), ("3", "Three-Phase")),
                ),
                FormField(
                    "electrical.phase_rotation",
                    "Phase Connection",
                    "select",
                    options=tuple((r, f"{r} ({ROTATION_LABELS[r]})") for r in ROTATIONS),
                ),
            ),
        ),
        Form(
            "metering",
            "External Metering",
            (
                FormField(
                    "metering.external.kind",
                    "External Metering",
                    "select",
                    options=(
                        ("none", "None"),
                        ("ct_clamps", "CT Clamps"),
                        ("p1", "P1 smart meter"),
                        ("modbus_meter", "Modbus kWh meter"),
                    ),
                ),
                *_clamp(0),
                *_clamp(1),
                *_clamp(2),
            ),
            intro="Site clamps go around the incoming phases above the main switch, in the order of"
            " the Phase Connection (manual 4.2.3); the arrow points with the current.",
        ),
    )


@dataclass(frozen=True)
class LatchedFault:
    """A latched fault as the Installer page lists it."""

    kind: str
    description: str
    since: str
    clearable: bool  # by the clear action here; else only a power cycle of the charger clears it


def latched_faults(status: EvseStatus | None) -> tuple[LatchedFault, ...]:
    """The evse's latched faults (faults that clear themselves are not listed)."""
    if status is None:
        return ()
    return tuple(
        LatchedFault(
            fault.kind.replace("_", " "),
            fault.description,
            f"{fault.since:%Y-%m-%d %H:%M} UTC",
            fault.latch == Latch.CLEARED.value,
        )
        for fault in status.faults
        if fault.latch != Latch.SELF.value
    )


async def _calibrate(request: web.Request, form: Form) -> str | None:
    """A tilt or "save all" save recalibrates explicitly: the next sample is the rest position."""
    if form.name not in CALIBRATING_FORMS:
        return None
    try:
        async with evse_client(request) as client:
            answer = await client.calibrate_tilt()
    except (EvseUnavailable, EvseApiError, TimeoutError) as error:
        log.warning("tilt sensor not calibrated: %s", error)
        return "The tilt sensor was not calibrated: the charging controller does not answer."
    if answer != "Accepted":
        return "The tilt sensor was not calibrated: the charger has no accelerometer."
    return "The tilt sensor takes the charger's position now as its rest position."


async def installer(request: web.Request) -> web.Response:
    """GET/POST /installer; a tilt or "save all" save also calibrates the tilt sensor."""
    require_role(request, Role.INSTALLER)
    status = await evse_status(request)
    return await settings_page(
        request,
        "installer.html",
        forms(),
        on_save=_calibrate,
        latched=latched_faults(status),
        evse_running=status is not None,
    )


async def clear_faults(request: web.Request) -> web.Response:
    """POST /installer/faults/clear: clear a latched tilt or stuck contactor (a security event)."""
    require_role(request, Role.INSTALLER)
    try:
        async with evse_client(request) as client:
            answer = await client.clear_faults(CLEARED_BY)
    except (EvseUnavailable, EvseApiError, TimeoutError) as error:
        log.warning("faults not cleared: %s", error)
        notice = "The charging controller does not answer: nothing was cleared."
    else:
        log.warning("clear fault by the installer login: %s", answer)
        notice = (
            "The latched faults were cleared."
            if answer == "Accepted"
            else "No fault that can be cleared here was latched."
        )
    return render(request, "notice.html", title="Clear fault", notice=notice, back="/installer")


async def reset_to_default(request: web.Request) -> web.Response:
    """POST /installer/reset: the whole profile back to the product's default profile."""
    require_role(request, Role.INSTALLER)
    state = request.app[STATE_KEY]
    try:
        text = await asyncio.to_thread(
            read_profile_text, state.settings.default_profile, "the default profile"
        )
        await asyncio.to_thread(state.store.reset_to, text)
    except ProfileInvalid as invalid:
        message = f"the default profile is invalid: {invalid}"
        raise web.HTTPInternalServerError(text=message) from None
    except ProfileNotSaved as error:
        return render(
            request, "notice.html", status=503, title="Reset to default", notice=str(error),
            back="/installer",
        )  # fmt: skip
    notice = "Configuration reset to default."
    try:
        async with evse_client(request) as client:
            await client.reload()
    except (EvseUnavailable, TimeoutError):
        notice += " The charging controller is not running."
    return render(
        request, "notice.html", title="Reset to default", notice=notice, back="/installer"
    )


ROUTES = (
    ("GET", "/installer", installer),
    ("POST", "/installer", installer),
    ("POST", "/installer/reset", reset_to_default),
    ("POST", "/installer/faults/clear", clear_faults),
)
