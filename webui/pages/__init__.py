"""The configurator's pages, one module each; ROUTES collects their routes for the app."""

from __future__ import annotations

from webui.pages import csms, general, installer, load, network

ROUTES = (*general.ROUTES, *installer.ROUTES, *csms.ROUTES, *network.ROUTES, *load.ROUTES)
