"""How a check-in batch names each scan's resident before storing or judging it (ADR 10, amendment
2026-12-07): `CheckinProcessor._identified`, against a stand-in for the database that answers the
three look-ups it may make and records them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from services.activities.adapters.cache import Caches, ResidentInfo
from services.activities.domain import model
from services.activities.service_layer.checkins import CheckinProcessor
from shared.db.erasure import ErasedCards
from shared.events import catalogue as ev
from shared.kiosk_cards import CardDigests

SECRET = "a-street-secret-of-at-least-32-characters!!"
DIGESTS = CardDigests.for_street(SECRET)
ERASED = ErasedCards.for_service(SECRET, "activities")
NOW = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


class Database:
    """resident_cards, erased_cards and residents as the look-ups query them."""

    def __init__(self, cards=None, erased=(), residents=()):
        self.cards = dict(cards or {})  # digest -> resident id
        self.erased = {ERASED.hash(v) for v in erased}
        self.residents = set(residents)
        self.queries: list[str] = []

    async def fetch(self, sql: str, *args):
        self.queries.append(sql.split()[1])
        if "FROM resident_cards" in sql:
            ids, digests = args
            return [{"card_digest": d, "resident_id": r} for d, r in self.cards.items() if d in digests or r in ids]
        if "FROM erased_cards" in sql:
            return [{"card_hash": h} for h in args[0] if bytes(h) in self.erased]
        if "FROM residents" in sql:
            return [{"resident_id": r, "community_id": "xinnan", "audience_group": "adult", "volunteer": False}
                    for r in args[0] if r in self.residents]  # fmt: skip
        raise AssertionError(sql)


def processor(caches: Caches) -> CheckinProcessor:
    ctx = SimpleNamespace(caches=caches, erased_cards=ERASED, card_digests=DIGESTS)
    return CheckinProcessor(ctx, None, grace=timedelta(minutes=10), late_sync=timedelta(minutes=15), sweep_every_s=30)


def scan(value: str) -> tuple[ev.KioskCheckin, None]:
    checkin = ev.KioskCheckin(checkin_id=uuid.uuid4(), kiosk_id="k1", venue_id="v1", resident_id=value, scanned_at=NOW)
    return checkin, None


def known(*resident_ids: str, cards: dict[str, str] | None = None) -> Caches:
    caches = Caches()
    caches.residents = {r: ResidentInfo("xinnan", "adult", False) for r in resident_ids}
    for card, rid in (cards or {}).items():
        caches.cards[DIGESTS.of(card)] = rid
        caches.card_of[rid] = DIGESTS.of(card)
    return caches


async def test_a_batch_of_known_ids_is_left_alone_without_a_query():
    db = Database()
    items = [scan("r-1"), scan("r-2")]
    assert await processor(known("r-1", "r-2"))._identified(db, items) is items
    assert db.queries == []


async def test_a_card_in_the_cache_becomes_its_resident_id_without_a_query():
    db = Database()
    out = await processor(known("r-1", cards={"440307199001011234": "r-1"}))._identified(
        db, [scan("440307199001011234")]
    )
    assert [c.resident_id for c, _ in out] == ["r-1"] and db.queries == []


async def test_a_card_another_instance_learnt_is_looked_up_once_per_batch():
    db = Database(cards={DIGESTS.of("C-2"): "r-2"})
    caches = known("r-2")
    out = await processor(caches)._identified(db, [scan("C-2"), scan("C-2"), scan("r-2")])
    assert [c.resident_id for c, _ in out] == ["r-2", "r-2", "r-2"]
    assert db.queries == ["card_digest,"] and caches.cards[DIGESTS.of("C-2")] == "r-2"


async def test_an_erased_card_or_id_is_masked_and_a_card_registered_again_is_not():
    db = Database(erased=[DIGESTS.of("C-gone"), "legacy-gone", DIGESTS.of("C-back")], residents=())
    caches = known(cards={"C-back": "r-back"})  # registered again since: in the map
    out = await processor(caches)._identified(db, [scan("C-gone"), scan("legacy-gone"), scan("C-back"), scan("C-new")])
    assert [c.resident_id for c, _ in out] == [model.ERASED_CARD, model.ERASED_CARD, "r-back", "C-new"]


async def test_an_id_erased_once_and_registered_again_is_a_resident():
    db = Database(erased=["legacy-back"], residents={"legacy-back"})
    out = await processor(known())._identified(db, [scan("legacy-back")])
    assert [c.resident_id for c, _ in out] == ["legacy-back"]
