"""Pages from autoescaped Jinja2 templates, with the navigation and CSRF token every page needs."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from webui.context import STATE_KEY, TEMPLATES
from webui.roles import pages_for
from webui.security import current_session


def template_environment() -> Environment:
    """Templates escape everything by default; an undefined name is an error, not blank."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """Render a page for the logged-in user (navigation for their role)."""
    state = request.app[STATE_KEY]
    session = current_session(request)
    licensed = state.store.profile.station.load_balancing_licensed
    navigation = pages_for(session.role, licensed) if session.role is not None else ()
    page = state.templates.get_template(template).render(
        session=session,
        navigation=navigation,
        current=request.path,
        csrf_token=session.csrf_token,
        version=state.settings.version,
        **values,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
