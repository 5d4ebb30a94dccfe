"""CSMS page (installer login only): the backoffice connection and how cards are authorised.

Also the settings flow the CSMS, Network and Load pages share: a save writes only the values
that differ from the profile, so an untouched field never rewrites its line, and a field may
map its form text to another profile type (a list, a yes/no choice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from runtime.config.errors import ProfileInvalid
from runtime.config.store import ConfigStore
from runtime.config.yaml_edit import ConfigPathError
from webui.context import STATE_KEY
from webui.forms import Form, FormField, FormOutcome, changes_from, values_of
from webui.pages.common import NOT_AVAILABLE
from webui.rendering import render
from webui.roles import Role
from webui.security import require_role
from webui.services import apply_profile_change

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MappedField(FormField):
    """A field whose form text stands for another profile type."""

    def shown(self, value: Any) -> Any:
        """The stored value as the form shows it."""
        return value

    def parsed(self, value: Any) -> Any:
        """The submitted value (after forms.convert) as the profile stores it; ValueError."""
        return value


def _stored(item: FormField, value: Any) -> Any:
    if isinstance(item, MappedField):
        value = item.parsed(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # "10" in a number field stays `10` in the file, not `10.0`
    return value


def _field_of(form: Form, path: str) -> tuple[FormField, str] | None:
    """The field an error path belongs to, and the rest of the path (a list entry)."""
    for item in form.fields:
        if path == item.path or path.startswith(item.path + "."):
            return item, path[len(item.path) + 1 :]
    return None


def _placed(form: Form, invalid: ProfileInvalid) -> FormOutcome:
    outcome = FormOutcome()
    for error in invalid.errors:
        found = _field_of(form, error.path)
        if found is None:
            outcome.general.append(f"{error.path}: {error.message}")
            continue
        item, rest = found
        message = f"entry {int(rest) + 1}: {error.message}" if rest.isdigit() else error.message
        outcome.errors.setdefault(item.path, message)
    return outcome


async def save_changed(store: ConfigStore, form: Form, data: Mapping[str, str]) -> FormOutcome:
    """Save the fields whose value differs from the profile, all or nothing (saved: any written)."""
    changes, errors = changes_from(form, data)
    wanted: dict[str, Any] = {}
    for item in form.fields:
        if item.path in changes:
            try:
                wanted[item.path] = _stored(item, changes[item.path])
            except ValueError as error:
                errors[item.path] = str(error)
    if errors:
        return FormOutcome(errors=errors)
    changed = {path: value for path, value in wanted.items() if value != store.get(path)}
    if not changed:
        return FormOutcome()
    try:
        await asyncio.to_thread(_apply, store, changed)
    except ProfileInvalid as invalid:
        return _placed(form, invalid)
    except ConfigPathError as error:
        return FormOutcome(general=[str(error)])
    log.info("saved %s: %s", form.name, ", ".join(sorted(changed)))
    return FormOutcome(saved=True)


def _apply(store: ConfigStore, changes: dict[str, Any]) -> None:
    store.update(changes)
    store.save()


def shown_values(store: ConfigStore, form: Form) -> dict[str, Any]:
    """The stored value of every field as its input shows it."""
    values = values_of(store, form)
    for item in form.fields:
        if isinstance(item, MappedField) and item.kind != "password":
            values[item.path] = item.shown(values[item.path])
    return values


def typed_values(form: Form, data: Mapping[str, str]) -> dict[str, Any]:
    """What the user submitted, to show again with the errors (never a password)."""
    values: dict[str, Any] = {}
    for item in form.fields:
        if item.kind == "password":
            values[item.path] = ""
        elif item.kind == "toggle":
            values[item.path] = item.name in data
        else:
            values[item.path] = data.get(item.name, "")
    return values


async def settings_view(
    request: web.Request,
    template: str,
    forms: Sequence[Form],
    roles: Sequence[Role] = (Role.INSTALLER,),
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
        form = next((f for f in forms if f.name == data.get("form")), None)
        if form is None:
            raise web.HTTPBadRequest(text=f"unknown form {data.get('form')!r}")
        outcome = outcomes[form.name] = await save_changed(state.store, form, data)
        if outcome.errors or outcome.general:
            typed[form.name] = typed_values(form, data)
        elif outcome.saved:
            notice = await apply_profile_change(state, form)
        else:
            notice = "Nothing changed."
    values = {form.name: typed.get(form.name) or shown_values(state.store, form) for form in forms}
    refused = any(outcome.errors or outcome.general for outcome in outcomes.values())
    return render(
        request,
        template,
        status=400 if refused else 200,
        forms=forms,
        values=values,
        outcomes=outcomes,
        notice=notice,
        **extra,
    )


async def device_identity(request: web.Request) -> str | None:
    """This device's own charger identity, or None when its secrets cannot be read."""
    try:
        secrets = await asyncio.to_thread(
            load_device_secrets, request.app[STATE_KEY].settings.data_dir
        )
    except DeviceSecretsError as error:
        log.warning("device identity not available: %s", error)
        return None
    return secrets.charger_identity


def forms(identity: str | None) -> tuple[Form, ...]:
    """The CSMS page's form (the identity hint names this device's own identity)."""
    own = identity or NOT_AVAILABLE
    return (
        Form(
            "csms",
            "Settings",
            (
                FormField(
                    "csms.url",
                    "CSMS Server Address",
                    optional=True,
                    hint="ws://… or wss://…; the charger identity is appended",
                ),
                FormField(
                    "csms.identity",
                    "Charger Identity",
                    optional=True,
                    hint=f"empty: this charger's own identity ({own})",
                ),
                FormField("csms.enabled", "Connect to a CSMS (backoffice)", "toggle"),
                FormField(
                    "csms.ocpp_version",
                    "OCPP Version",
                    "select",
                    options=(("1.6", "OCPP 1.6J"), ("2.0.1", "OCPP 2.0.1")),
                ),
                FormField(
                    "csms.security_profile",
                    "Security Profile",
                    "select",
                    integer_choices=True,
                    options=(
                        ("0", "0: none (test benches only)"),
                        ("1", "1: basic authentication (ws://)"),
                        ("2", "2: TLS with basic authentication (wss://)"),
                        ("3", "3: TLS with a client certificate (wss://)"),
                    ),
                ),
                FormField(
                    "authorization.offline_authorisation",
                    "Offline Authorisation",
                    "select",
                    options=(("csms", "Authorisation via CSMS server"), ("offline", "Offline")),
                ),
                FormField("authorization.sound_enabled", "Sound Notification", "toggle"),
                FormField("authorization.rfid_enabled", "RFID Enabled", "toggle"),
                FormField(
                    "authorization.default_id_tag_mode",
                    "Default Id Tag mode",
                    "select",
                    options=(
                        ("authorisation_required", "Authorisation Required"),
                        ("default_id_tag", "Default Id Tag"),
                    ),
                ),
                FormField(
                    "authorization.default_id_tag",
                    "Default Id Tag",
                    hint="starts every session in Default Id Tag mode, e.g. a customer UID for"
                    " Plug & Charge billing",
                ),
            ),
            intro="Saving makes the charger (re)connect to the CSMS.",
            applies_to=("scc", "evse"),
        ),
    )


def status_of(request: web.Request) -> dict[str, str]:
    """The status block: the OCPP client does not exist yet, so its values are not available."""
    station = request.app[STATE_KEY].store.profile.station
    return {
        "Connection Status": NOT_AVAILABLE,
        "SCC Version": NOT_AVAILABLE,
        "Bytes Sent": NOT_AVAILABLE,
        "Bytes Received": NOT_AVAILABLE,
        "Charger Model": station.model,
        "Charger Vendor": station.vendor,
    }


async def csms(request: web.Request) -> web.Response:
    """GET/POST /csms (the OCPP client reconnects with the saved settings once it exists)."""
    require_role(request, Role.INSTALLER)
    identity = await device_identity(request)
    return await settings_view(request, "csms.html", forms(identity), facts=status_of(request))


ROUTES = (("GET", "/csms", csms), ("POST", "/csms", csms))
