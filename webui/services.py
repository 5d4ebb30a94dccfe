"""After a settings save: tell the services that read the changed part of the profile.

The evse service applies a new profile by restarting once no charging session is open (it
answers "Scheduled" during a session); services not built yet are skipped.
"""

from __future__ import annotations

import logging

from runtime.evse.client import EvseClient, EvseUnavailable
from webui.context import WebState
from webui.forms import Form

log = logging.getLogger(__name__)


async def apply_profile_change(state: WebState, form: Form) -> str:
    """Ask the affected services to reload; a sentence for the page."""
    if not form.applies_to:
        return "Saved."
    notices = []
    if "evse" in form.applies_to:
        try:
            async with EvseClient(state.settings.evse_socket, timeout_s=2.0) as client:
                answer = await client.reload()
        except (EvseUnavailable, TimeoutError) as error:
            log.warning("evse not told about the new profile: %s", error)
            notices.append("the charging controller is not running; it reads the profile at start")
        else:
            notices.append(
                "the charging controller applies it after the current session"
                if answer == "Scheduled"
                else "the charging controller restarts with it now"
            )
    others = sorted(set(form.applies_to) - {"evse"})
    if others:
        notices.append(f"{', '.join(others)}: not available yet, used when installed")
    return "Saved; " + "; ".join(notices) + "."
