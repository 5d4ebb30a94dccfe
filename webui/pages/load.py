"""Load page (installer login, only when load balancing is licensed): every balancing setting,
and a live chart of the site current per phase against the charging current.

The chart is drawn in the browser by static/chart.js from the live values (`/api/live`) and keeps
the last 10 minutes there; without the evse service it says "not available".
"""

from __future__ import annotations

from aiohttp import web

from webui.context import STATE_KEY
from webui.forms import Form, FormField
from webui.pages.common import evse_status, settings_page
from webui.pages.general import evse_view
from webui.roles import Role
from webui.security import require_role

FORMS = (
    Form(
        "balancing",
        "Load Balancing",
        (
            FormField("balancing.enabled", "Load Balancing Enabled", "toggle"),
            FormField(
                "balancing.mode",
                "Load Balancing Mode",
                "select",
                options=(
                    ("static", "Static (never more than the configured limit)"),
                    ("dynamic", "Dynamic (follow the building's consumption)"),
                ),
            ),
            FormField(
                "balancing.margin_a",
                "Load Balancing Margin [A]",
                "number",
                hint="always kept free between the available capacity and the charging current",
            ),
            FormField(
                "balancing.site_limit_a",
                "Site Limit [A]",
                "number",
                hint="the main connection's fuse per phase, e.g. 100",
            ),
            FormField(
                "balancing.min_change_a",
                "Load Balancing Minimum Change [A]",
                "number",
                hint="e.g. 0.1",
            ),
            FormField(
                "balancing.min_delay_s",
                "Load Balancing Minimum Delay [s]",
                "number",
                hint="e.g. 10",
            ),
            FormField(
                "balancing.min_topup_a",
                "Load Balancing Minimum TopUp Charge [A]",
                "number",
                hint="e.g. 8",
            ),
            FormField(
                "balancing.topup_eco_export_threshold_a",
                "TopUpEco Minimum Export Threshold [A]",
                "number",
                hint="solar: e.g. 0.2",
            ),
            FormField(
                "balancing.solar_mode",
                "Dynamic Solar Balancing",
                "select",
                options=(
                    ("off", "Off"),
                    ("solar", "Solar (export surplus only)"),
                    ("topup_eco", "TopUpEco (minimum top-up plus surplus)"),
                ),
            ),
            FormField(
                "balancing.failsafe_current_a",
                "Fail-safe Current [A]",
                "number",
                hint="when meter data is lost: 0 stops charging, else at least 6 A",
            ),
            FormField(
                "balancing.meter_timeout_s",
                "Meter Timeout [s]",
                "number",
                hint="meter data older than this counts as lost",
            ),
        ),
        applies_to=("evse",),
    ),
)


async def load(request: web.Request) -> web.Response:
    """GET/POST /load."""
    require_role(request, Role.INSTALLER)
    store = request.app[STATE_KEY].store
    if not store.profile.station.load_balancing_licensed:
        raise web.HTTPNotFound(text="load balancing is not licensed on this charger")
    status = await evse_status(request)
    # the template reads the site limit from the store, so a limit just saved shows at once
    return await settings_page(
        request,
        "load.html",
        FORMS,
        evse=evse_view(status),
        evse_running=status is not None,
        store=store,
    )


ROUTES = (("GET", "/load", load), ("POST", "/load", load))
