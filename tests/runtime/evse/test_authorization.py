"""Who may charge: local list, backoffice with a timeout, cache, and the offline rule."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from runtime.evse.authorization import AuthDecision, Authorizer
from runtime.persistence.auth_cache import AuthCache, AuthorizationStatus
from runtime.persistence.database import Database
from schemas.authorization import Authorization, LocalCard

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


class Backoffice:
    """A CSMS as the bridge presents it: answers, or hangs, or is gone."""

    def __init__(self, answer: AuthorizationStatus | None, hang: bool = False) -> None:
        self.answer, self.hang, self.asked = answer, hang, 0

    async def authorize(self, id_tag: str) -> tuple[AuthorizationStatus, dt.datetime | None]:
        self.asked += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.answer is None:
            raise ConnectionError("backoffice went away")
        return self.answer, None


def decide(
    tmp_path: Path, settings: Authorization, csms: Backoffice | None, tag: str
) -> AuthDecision:
    async def run() -> AuthDecision:
        with Database.open(tmp_path / "db.sqlite") as database:
            cache = AuthCache(database)
            authorizer = Authorizer(settings, cache, lambda: csms, now=lambda: NOW)
            return await authorizer.authorize(tag)

    return asyncio.run(run())


def test_local_card_is_accepted_without_asking_the_backoffice(tmp_path: Path) -> None:
    csms = Backoffice(AuthorizationStatus.BLOCKED)
    settings = Authorization(local_cards=(LocalCard(uid="FB433810"),))
    decision = decide(tmp_path, settings, csms, "FB433810")
    assert decision.accepted and decision.source == "local_list"
    assert csms.asked == 0


def test_expired_local_card_is_not_accepted_offline(tmp_path: Path) -> None:
    card = LocalCard(uid="FB433810", expires=dt.date(2026, 5, 31))
    settings = Authorization(offline_authorisation="offline", local_cards=(card,))
    assert not decide(tmp_path, settings, None, "FB433810").accepted


def test_backoffice_verdict_is_cached_for_offline_use(tmp_path: Path) -> None:
    settings = Authorization()
    online = decide(tmp_path, settings, Backoffice(AuthorizationStatus.ACCEPTED), "CAFE0001")
    assert online.source == "csms" and online.accepted
    offline = decide(tmp_path, settings, None, "CAFE0001")
    assert offline.source == "cache" and offline.accepted


def test_slow_backoffice_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    settings = Authorization(csms_timeout_s=1)
    decision = decide(tmp_path, settings, Backoffice(None, hang=True), "CAFE0002")
    assert decision.source == "offline_rule" and not decision.accepted


def test_unknown_cards_may_be_accepted_offline_if_the_installer_chose_so(tmp_path: Path) -> None:
    settings = Authorization(unknown_card_when_offline="accept")
    decision = decide(tmp_path, settings, Backoffice(None), "CAFE0003")
    assert decision.accepted and decision.source == "offline_rule"


def test_blocked_card_is_refused(tmp_path: Path) -> None:
    decision = decide(tmp_path, Authorization(), Backoffice(AuthorizationStatus.BLOCKED), "BAD1")
    assert not decision.accepted and decision.status == "Blocked"
