"""Authorization cache: the backoffice's last answer per card, expiry, bounded by LRU eviction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.persistence.auth_cache import AuthCache, AuthorizationStatus
from runtime.persistence.database import Database

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ACCEPTED = AuthorizationStatus.ACCEPTED


@pytest.fixture
def cache(db: Database) -> AuthCache:
    return AuthCache(db, max_entries=3)


def test_a_cached_answer_is_read_back(cache: AuthCache) -> None:
    cache.put("04A1B2C3", ACCEPTED, T0 + DAY, T0)
    entry = cache.get("04A1B2C3", T0 + timedelta(hours=1))
    assert entry is not None
    assert (entry.id_tag, entry.status, entry.expires_at) == ("04A1B2C3", ACCEPTED, T0 + DAY)


def test_an_unknown_card_is_not_in_the_cache(cache: AuthCache) -> None:
    assert cache.get("NOPE", T0) is None


def test_an_entry_reads_as_expired_from_its_expiry_on(cache: AuthCache) -> None:
    cache.put("CARD", ACCEPTED, T0 + DAY, T0)
    before = cache.get("CARD", T0 + DAY - timedelta(seconds=1))
    at_expiry = cache.get("CARD", T0 + DAY)
    assert before is not None and before.status is ACCEPTED
    assert at_expiry is not None and at_expiry.status is AuthorizationStatus.EXPIRED
    later = cache.get("CARD", T0)
    assert later is not None and later.status is AuthorizationStatus.EXPIRED


def test_an_entry_without_expiry_never_expires(cache: AuthCache) -> None:
    cache.put("CARD", AuthorizationStatus.BLOCKED, None, T0)
    entry = cache.get("CARD", T0 + 3650 * DAY)
    assert entry is not None and entry.status is AuthorizationStatus.BLOCKED


def test_a_new_answer_replaces_the_old_one(cache: AuthCache) -> None:
    cache.put("CARD", ACCEPTED, T0 + DAY, T0)
    cache.put("CARD", AuthorizationStatus.INVALID, None, T0 + timedelta(hours=1))
    entry = cache.get("CARD", T0 + 2 * DAY)
    assert entry is not None
    assert (entry.status, entry.expires_at) == (AuthorizationStatus.INVALID, None)
    assert len(cache) == 1


def test_the_least_recently_used_card_is_evicted_when_full(cache: AuthCache) -> None:
    for tag in ("A", "B", "C"):
        cache.put(tag, ACCEPTED, None, T0)
    cache.get("A", T0)
    cache.put("D", ACCEPTED, None, T0)
    assert cache.get("B", T0) is None
    assert all(cache.get(tag, T0) is not None for tag in ("A", "C", "D"))
    assert len(cache) == 3


def test_updating_a_cached_card_evicts_nothing(cache: AuthCache) -> None:
    for tag in ("A", "B", "C"):
        cache.put(tag, ACCEPTED, None, T0)
    cache.put("A", AuthorizationStatus.BLOCKED, None, T0)
    assert len(cache) == 3


def test_the_cache_never_holds_more_than_its_size(db: Database) -> None:
    cache = AuthCache(db)
    assert cache.max_entries == 1000
    small = AuthCache(db, max_entries=5)
    for n in range(40):
        small.put(f"TAG{n}", ACCEPTED, None, T0)
    assert len(small) == 5
    assert [small.get(f"TAG{n}", T0) is not None for n in range(35, 40)] == [True] * 5


def test_clear_cache_empties_it_and_remove_forgets_one(cache: AuthCache) -> None:
    cache.put("A", ACCEPTED, None, T0)
    cache.put("B", ACCEPTED, None, T0)
    assert cache.remove("A") is True
    assert cache.remove("A") is False
    assert cache.clear() == 1
    assert len(cache) == 0


def test_every_ocpp_status_can_be_cached(db: Database) -> None:
    big = AuthCache(db, max_entries=10)
    for status in AuthorizationStatus:
        big.put(status, status, None, T0)
        entry = big.get(status, T0)
        assert entry is not None and entry.status is status


def test_an_unknown_status_or_empty_tag_is_refused(cache: AuthCache, db: Database) -> None:
    with pytest.raises(ValueError):
        cache.put("CARD", "Maybe", None, T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id_tag"):
        cache.put("", ACCEPTED, None, T0)
    with pytest.raises(ValueError, match="max_entries"):
        AuthCache(db, max_entries=0)


def test_the_cache_survives_a_restart(db_path: Path) -> None:
    with Database.open(db_path) as db:
        AuthCache(db).put("CARD", ACCEPTED, T0 + DAY, T0)
    with Database.open(db_path) as db:
        entry = AuthCache(db).get("CARD", T0)
        assert entry is not None and entry.status is ACCEPTED
