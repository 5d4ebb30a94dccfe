"""CSMS page (installer login only): the backoffice connection and how cards are authorised.

Also the settings flow the CSMS, Network and Load pages share: a save writes only the values
that differ from the profile, so an untouched field never rewrites its line, and a field may
map its form text to another profile type (a list, a yes/no choice).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from runtime.config.device_secrets import DeviceSecretsError, load_device_secrets
from webui.context import STATE_KEY
from webui.forms import Form, FormField
from webui.pages.common import NOT_AVAILABLE, settings_page
from webui.roles import Role
from webui.security import require_role

log = logging.getLogger(__name__)


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
    return await settings_page(request, "csms.html", forms(identity), facts=status_of(request))


ROUTES = (("GET", "/csms", csms), ("POST", "/csms", csms))
