"""Late attendance of an erased card (ADR 10, amendment; issue 17): scoring and the passport keep a
keyed hash of each erased card and drop attendance for one that arrives after the erasure (in
flight or redelivered), which would otherwise write the resident's rows again under the card.
Scoring draws the line by offset (where its attendance stood at the erasure), so a rebuild drops
the same records."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from services.enrolment.service_layer.passport import PassportProjector
from services.scoring.service_layer.attendance import without_erased_cards
from shared.db.erasure import ErasedCards
from shared.events.catalogue import AttendanceRecorded, HonourRevoked

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _attendance(resident_id: str, offset: int = 0, partition: int = 0) -> SimpleNamespace:
    data = AttendanceRecorded(
        attendance_id=f"a-{resident_id}-{offset}", checkin_id=uuid.uuid4(), resident_id=resident_id, session_id="s",
        course_id="c", venue_id="v", community_id="xinnan", minutes=30, scanned_at=NOW,
    )  # fmt: skip
    record = SimpleNamespace(partition=partition, offset=offset)
    return SimpleNamespace(type_name=data.type_name, data=data, record=record)


SECRET = "a street secret of 32 characters.."


class _Cards:
    """ErasedCards with its table in memory (the hashes, as the database keeps them)."""

    def __init__(self, *erased: str) -> None:
        self.real = ErasedCards.for_service(SECRET, "test")
        self.hashes = {self.real.hash(r) for r in erased}

    async def among(self, conn, resident_ids):
        return {r for r in resident_ids if self.real.hash(r) in self.hashes}


class _ScoringTable:
    """scoring's erased_cards: hash → where attendance stood at the erasure."""

    def __init__(self, cards: ErasedCards, erased: dict[str, dict[str, int]]) -> None:
        self.rows = {cards.hash(r): offsets for r, offsets in erased.items()}

    async def fetch(self, sql, hashes):
        return [{"card_hash": h, "offsets": json.dumps(self.rows[h])} for h in hashes if h in self.rows]


def test_the_list_keeps_a_keyed_hash_per_service_never_the_card():
    secret = "a street secret of 32 characters.."
    scoring, enrolment = ErasedCards.for_service(secret, "scoring"), ErasedCards.for_service(secret, "enrolment")
    card = "440307199001011234"
    assert card.encode() not in scoring.hash(card)
    assert scoring.hash(card) != enrolment.hash(card)  # the two tables do not join
    assert scoring.hash(card) == ErasedCards.for_service(secret, "scoring").hash(card)
    assert scoring.hash(card) != ErasedCards.for_service(secret + "x", "scoring").hash(card)


async def test_scoring_drops_attendance_of_an_erased_card_past_the_erasure_and_keeps_the_rest():
    cards = ErasedCards.for_service(SECRET, "scoring")
    uow = SimpleNamespace(conn=_ScoringTable(cards, {"erased-card": {"0": 10}}))
    events = [
        _attendance("erased-card", offset=9),  # applied before the erasure (then pseudonymised): a rebuild keeps it
        _attendance("erased-card", offset=11),  # arrived after it: dropped, live and in a rebuild
        _attendance("still-here", offset=12),
    ]
    kept = await without_erased_cards(uow, cards, events)
    assert [(e.data.resident_id, e.record.offset) for e in kept] == [("erased-card", 9), ("still-here", 12)]


async def test_scoring_drops_every_attendance_on_a_partition_it_had_not_read_at_the_erasure():
    cards = ErasedCards.for_service(SECRET, "scoring")
    uow = SimpleNamespace(conn=_ScoringTable(cards, {"erased-card": {}}))
    assert await without_erased_cards(uow, cards, [_attendance("erased-card", offset=0, partition=3)]) == []


async def test_scoring_without_the_list_applies_everything():
    events = [_attendance("erased-card")]
    assert await without_erased_cards(SimpleNamespace(conn=None), None, events) == events


async def test_the_passport_drops_attendance_of_an_erased_card_and_keeps_honours():
    honour = HonourRevoked(honour_id="h1", reason="test")
    events = [_attendance("erased-card"), _attendance("still-here"), SimpleNamespace(type_name=honour.type_name,
                                                                                     data=honour)]  # fmt: skip
    projector = PassportProjector(_Cards("erased-card"))
    kept = await projector._without_erased_cards(SimpleNamespace(conn=None), events)
    assert [getattr(e.data, "resident_id", None) or e.data.honour_id for e in kept] == ["still-here", "h1"]
