"""What pages share: reading the evse service (or saying it is not available) and settings forms."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from runtime.evse.client import EvseClient, EvseUnavailable
from runtime.evse.status import EvseStatus
from webui.context import STATE_KEY
from webui.forms import Form, FormOutcome, save, values_of
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role
from webui.services import apply_profile_change

log = logging.getLogger(__name__)

NOT_AVAILABLE = "not available"
EVSE_TIMEOUT_S = 2.0


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


async def settings_page(
    request: web.Request,
    template: str,
    forms: Sequence[Form],
    roles: Sequence[Role] = (Role.INSTALLER,),
    **extra: Any,
) -> web.Response:
    """GET shows the forms; POST saves the one submitted and shows the result next to it."""
    require_role(request, *roles)
    store = request.app[STATE_KEY].store
    outcomes: dict[str, FormOutcome] = {}
    notice = None
    status = 200
    if request.method == "POST":
        data = await request.post()
        name = str(data.get("form", ""))
        form = next((f for f in forms if f.name == name), None)
        if form is None:
            raise web.HTTPBadRequest(text=f"unknown form {name!r}")
        outcome = await save(store, form, {k: str(v) for k, v in data.items()})
        outcomes[name] = outcome
        if outcome.saved:
            notice = await apply_profile_change(request.app[STATE_KEY], form)
        else:
            status = 400
    values = {form.name: values_of(store, form) for form in forms}
    if request.method == "POST":
        # a refused form shows what the user typed, not the stored values
        for name, outcome in outcomes.items():
            if not outcome.saved:
                posted = await request.post()
                for field_ in next(f for f in forms if f.name == name).fields:
                    if field_.kind not in ("password", "toggle"):
                        values[name][field_.path] = str(posted.get(field_.name, ""))
                    elif field_.kind == "toggle":
                        values[name][field_.path] = field_.name in posted
    return render(
        request,
        template,
        status=status,
        forms=forms,
        values=values,
        outcomes=outcomes,
        notice=notice,
        **extra,
    )
