"""What pages share: reading the evse service (or saying it is not available) and settings forms."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from runtime.evse.client import EvseClient, EvseUnavailable
from runtime.evse.status import EvseStatus
from webui.context import STATE_KEY
from webui.forms import Form, FormOutcome, save, shown_values, typed_values
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role
from webui.services import apply_profile_change

log = logging.getLogger(__name__)

NOT_AVAILABLE = "not available"
SAVE_ALL = "all"  # the Installer page's "save all configuration + calibrate"
EVSE_TIMEOUT_S = 2.0

# Runs after a successful save, before the services are told; its sentence joins the notice.
OnSave = Callable[[web.Request, Form], Awaitable[str | None]]


def evse_client(request: web.Request) -> EvseClient:
    """A client of the evse local API."""
    return EvseClient(request.app[STATE_KEY].settings.evse_socket, timeout_s=EVSE_TIMEOUT_S)


async def evse_status(request: web.Request) -> EvseStatus | None:
    """The charger's status, or None when the evse service does not answer."""
    try:
        async with evse_client(request) as client:
            return await client.status()
    except (EvseUnavailable, TimeoutError) as error:
        log.info("evse status not available: %s", error)
        return None


def all_of(forms: Sequence[Form]) -> Form:
    """Every form of a page as one, saved together."""
    applies_to = tuple(sorted({program for form in forms for program in form.applies_to}))
    fields = tuple(field for form in forms for field in form.fields)
    return Form(SAVE_ALL, "All configuration", fields, applies_to=applies_to)


async def settings_page(
    request: web.Request,
    template: str,
    forms: Sequence[Form],
    roles: Sequence[Role] = (Role.INSTALLER,),
    on_save: OnSave | None = None,
    **extra: Any,
) -> web.Response:
    """GET shows the forms; POST saves what changed in the one submitted, answered next to it."""
    require_role(request, *roles)
    state = request.app[STATE_KEY]
    outcomes: dict[str, FormOutcome] = {}
    typed: dict[str, dict[str, Any]] = {}
    notice = None
    if request.method == "POST":
        data = {key: str(value) for key, value in (await request.post()).items()}
        name = data.get("form")
        form = (
            all_of(forms) if name == SAVE_ALL else next((f for f in forms if f.name == name), None)
        )
        if form is None:
            raise web.HTTPBadRequest(text=f"unknown form {name!r}")
        outcome = outcomes[form.name] = await save(state.store, form, data)
        if outcome.errors or outcome.general:
            for each in forms if name == SAVE_ALL else (form,):
                typed[each.name] = typed_values(each, data)
        elif outcome.saved or name == SAVE_ALL:  # "save all + calibrate" restarts in any case
            before = await on_save(request, form) if on_save is not None else None
            notice = await apply_profile_change(state, form)
            notice = f"{notice} {before}" if before else notice
        else:
            notice = "Nothing changed."
    values = {form.name: typed.get(form.name) or shown_values(state.store, form) for form in forms}
    refused = any(outcome.errors or outcome.general for outcome in outcomes.values())
    not_written = any(outcome.not_written for outcome in outcomes.values())
    return render(
        request,
        template,
        status=503 if not_written else 400 if refused else 200,
        forms=forms,
        values=values,
        outcomes=outcomes,
        notice=notice,
        **extra,
    )
