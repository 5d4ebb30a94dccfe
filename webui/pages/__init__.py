"""The configurator's pages, one module each; ROUTES collects their routes for the app."""

from __future__ import annotations

from webui.pages import general, installer

ROUTES = (*general.ROUTES, *installer.ROUTES)
