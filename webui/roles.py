"""The two logins of the manual (section 4.3) and what each may see: one description table.

Installer (certified installers) sees and changes everything; EV (the owner) sees General,
Transactions, Network, Monitor and, on Admin, System Update and System Logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """A login of the configurator (user names as on the sticker)."""

    INSTALLER = "installer"
    EV = "ev"

    @property
    def account(self) -> Literal["installer", "ev"]:
        """The device-secrets account of this login."""
        return "installer" if self is Role.INSTALLER else "ev"


BOTH = frozenset({Role.INSTALLER, Role.EV})
INSTALLER_ONLY = frozenset({Role.INSTALLER})


@dataclass(frozen=True)
class PageSpec:
    """A page of the configurator's navigation."""

    slug: str
    title: str
    roles: frozenset[Role]


PAGES: tuple[PageSpec, ...] = (
    PageSpec("general", "General Information", BOTH),
    PageSpec("transactions", "Transactions", BOTH),
    PageSpec("csms", "CSMS", INSTALLER_ONLY),
    PageSpec("network", "Network", BOTH),
    PageSpec("monitor", "Monitor", BOTH),
    PageSpec("admin", "Admin", BOTH),
    PageSpec("installer", "Installer", INSTALLER_ONLY),
    PageSpec("load", "Load", INSTALLER_ONLY),
)


def pages_for(role: Role, load_balancing_licensed: bool) -> tuple[PageSpec, ...]:
    """The navigation of `role` (the Load page only when load balancing is licensed)."""
    return tuple(
        page
        for page in PAGES
        if role in page.roles and (page.slug != "load" or load_balancing_licensed)
    )
