"""The configurator's pages, one module each; ROUTES collects their routes for the app."""

from __future__ import annotations

from webui.pages import (
    admin,
    csms,
    general,
    installer,
    load,
    monitor,
    network,
    transactions,
    update,
)

ROUTES = (
    *general.ROUTES,
    *installer.ROUTES,
    *csms.ROUTES,
    *network.ROUTES,
    *load.ROUTES,
    *transactions.ROUTES,
    *monitor.ROUTES,
    *admin.ROUTES,
    *update.ROUTES,
)
