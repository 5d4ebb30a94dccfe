"""Who may charge: the local card list, the authorization cache and the backoffice.

Order (OCPP 1.6 §3.5 "Local Authorization"): a valid card on the profile's local list is
accepted at once; with "Authorisation via CSMS server" the backoffice is asked (with a timeout)
and its answer cached; when it cannot be reached the cache decides, then the profile's rule
for unknown cards. "Offline" authorisation uses the local list and the cache only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from runtime.persistence.auth_cache import AuthCache, AuthorizationStatus
from runtime.persistence.errors import PersistenceError
from schemas.authorization import Authorization

log = logging.getLogger(__name__)

Source = Literal["local_list", "cache", "csms", "offline_rule", "default_id_tag"]


@dataclass(frozen=True)
class AuthDecision:
    """The verdict on one id tag and where it came from."""

    id_tag: str
    accepted: bool
    source: Source
    status: str  # OCPP IdTagInfo.status


class CsmsAuthorizer(Protocol):
    """The backoffice, reached through the OCPP service (None when none is connected)."""

    async def authorize(self, id_tag: str) -> tuple[AuthorizationStatus, datetime | None]: ...


class Authorizer:
    """Decides on presented cards and tags."""

    def __init__(
        self,
        settings: Authorization,
        cache: AuthCache | None,
        csms: Callable[[], CsmsAuthorizer | None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._cache = cache if settings.cache_enabled else None
        self._csms = csms
        self._now = now

    async def authorize(self, id_tag: str) -> AuthDecision:
        """Decide on `id_tag`; never raises for a backoffice that is slow or gone."""
        if self._on_local_list(id_tag):
            return AuthDecision(id_tag, True, "local_list", "Accepted")
        csms = self._csms() if self._settings.offline_authorisation == "csms" else None
        if csms is not None:
            decision = await self._ask_csms(csms, id_tag)
            if decision is not None:
                return decision
        return await self._offline(id_tag)

    def _on_local_list(self, id_tag: str) -> bool:
        today = self._now().date()
        return any(
            card.uid == id_tag and (card.expires is None or today <= card.expires)
            for card in self._settings.local_cards
        )

    async def _ask_csms(self, csms: CsmsAuthorizer, id_tag: str) -> AuthDecision | None:
        try:
            status, expiry = await asyncio.wait_for(
                csms.authorize(id_tag), timeout=self._settings.csms_timeout_s
            )
        except TimeoutError:
            log.warning("CSMS did not answer Authorize for %s in time: deciding offline", id_tag)
            return None
        except (ConnectionError, OSError) as error:
            log.warning(
                "CSMS unreachable for Authorize of %s (%s): deciding offline", id_tag, error
            )
            return None
        if self._cache is not None:
            try:
                await asyncio.to_thread(self._cache.put, id_tag, status, expiry, self._now())
            except PersistenceError as error:
                log.warning("CSMS answer for %s not cached: %s", id_tag, error)
        accepted = status is AuthorizationStatus.ACCEPTED
        return AuthDecision(id_tag, accepted, "csms", str(status))

    async def _offline(self, id_tag: str) -> AuthDecision:
        if self._cache is not None:
            try:
                entry = await asyncio.to_thread(self._cache.get, id_tag, self._now())
            except PersistenceError as error:
                log.warning("authorization cache unreadable for %s: %s", id_tag, error)
                entry = None
            if entry is not None:
                accepted = entry.status is AuthorizationStatus.ACCEPTED
                return AuthDecision(id_tag, accepted, "cache", str(entry.status))
        accepted = (
            self._settings.offline_authorisation == "csms"
            and self._settings.unknown_card_when_offline == "accept"
        )
        return AuthDecision(id_tag, accepted, "offline_rule", "Accepted" if accepted else "Invalid")
