"""Kiosk cards apart from resident ids (docs/decisions/0010-erasure.md, amendment 2026-12-07).

A resident registered with a card gets a random id from enrolment; the card's keyed digest goes to
activities alone (enrolment.resident-cards), which turns a scan of the card into the resident's
scan before storing or judging it. So the card is in no attendance, ledger row or event: enrolment's
registry keeps it, and the kiosks' raw scans until activities has read them. These tests register
through enrolment's API and scan through Kafka, as a street would."""

from __future__ import annotations

import json
import random

import asyncpg

from tests.integration.activities.helpers import attendance, checkin, make_place, now, outcome, send_checkins
from tests.support import client, env, read_topic, unique


def _card() -> str:
    # an 18-character identity-card-like number: digits, the last may be X
    return "4403" + "".join(random.choices("0123456789", k=13)) + random.choice("0123456789X")


async def _register(enr, **fields) -> dict:
    r = await enr.post("/v1/residents", json={"community_id": "xinnan", "audience_group": "adult", **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def _ledger_rows_holding(value: str) -> int:
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:
        return await conn.fetchval(
            "SELECT (SELECT count(*) FROM checkins WHERE resident_id = $1)"
            " + (SELECT count(*) FROM pending_checkins WHERE resident_id = $1 OR payload::text LIKE '%' || $1 || '%')"
            " + (SELECT count(*) FROM attendance WHERE resident_id = $1)",
            value,
        )
    finally:
        await conn.close()


async def test_a_card_is_scanned_and_recorded_under_the_resident_id_alone():
    place = await make_place()
    card = _card()
    async with client("enrolment", "operator", "cards-desk") as enr:
        resident = await _register(enr, card_number=card)
        rid = resident["resident_id"]
        assert rid != card and rid.startswith("r-") and resident["card_number"] == card
        # the desk knows the card, not the id
        found = await enr.post("/v1/residents/lookup", json={"card_number": card})
        assert found.status_code == 200 and found.json()["resident_id"] == rid, found.text
    scan = checkin(place, card, now())
    await send_checkins(scan)
    settled = await outcome(scan["checkin_id"], timeout_s=60)
    assert settled["outcome"] == "recorded", settled
    assert settled["resident_id"] == rid and card not in json.dumps(settled, default=str)
    assert (await attendance(rid, place.session_id)) is not None
    assert await _ledger_rows_holding(card) == 0
    records = await read_topic(
        "activities.attendance", until=lambda rs: any(scan["checkin_id"].encode() in (r.value or b"") for r in rs),
        timeout_s=60,
    )  # fmt: skip
    [recorded] = [r for r in records if scan["checkin_id"].encode() in (r.value or b"")]
    assert recorded.key == rid.encode() and card.encode() not in recorded.value
    for topic in ("enrolment.residents", "enrolment.resident-cards"):
        records = await read_topic(topic, until=lambda rs: any(r.key == rid.encode() for r in rs), timeout_s=60)
        assert not [r for r in records if card.encode() in (r.value or b"") or card.encode() in (r.key or b"")]
    # activities' map holds the card's keyed digest, not the card
    [assigned] = [json.loads(r.value) for r in records if r.key == rid.encode()]
    assert set(assigned) == {"resident_id", "card_digest"} and len(assigned["card_digest"]) == 64


async def test_a_card_scanned_before_its_registration_becomes_the_resident_s_once_it_arrives():
    """The kiosk was quicker than the desk: the scan waits (parked) under the card; when the card's
    owner is registered, the parked scan and its ledger row take the resident id, and it counts."""
    place = await make_place()
    card = _card()
    scan = checkin(place, card, now())
    await send_checkins(scan)
    parked = await outcome(scan["checkin_id"], settled=False, timeout_s=60)
    assert parked["outcome"] == "pending" and parked["reason"] == "unknown_resident", parked
    async with client("enrolment", "operator", "cards-desk") as enr:
        rid = (await _register(enr, card_number=card))["resident_id"]
    settled = await outcome(scan["checkin_id"], timeout_s=90)
    assert (settled["outcome"], settled["resident_id"]) == ("recorded", rid), settled
    assert await _ledger_rows_holding(card) == 0
    # a kiosk retry of the scan is the same scan, not a conflict
    await send_checkins(scan)
    again = await outcome(scan["checkin_id"], timeout_s=30)
    assert again["outcome"] == "recorded" and again["resident_id"] == rid


async def test_a_card_is_one_resident_s_and_the_desk_is_told_why_otherwise():
    card, other_card = _card(), _card()
    library_card = unique("LIB")  # a library card: not shaped like an identity card
    legacy = unique("cards-legacy")  # registered by its card number as its id, as before cards
    async with client("enrolment", "operator", "cards-desk") as enr:
        await _register(enr, card_number=card)
        await _register(enr, card_number=library_card)
        await _register(enr, resident_id=legacy)
        refusals = {
            "card twice": ({"card_number": card}, "card_number"),
            "card equal to a resident id": ({"card_number": legacy}, "card_number"),
            "id equal to a card": ({"resident_id": library_card, "card_number": other_card}, "resident_id"),
        }
        for why, (fields, field) in refusals.items():
            r = await enr.post("/v1/residents", json={"community_id": "xinnan", "audience_group": "adult", **fields})
            assert r.status_code == 409, (why, r.text)
            assert r.json()["detail"][0]["loc"][-1] == field, (why, r.text)
        listed = [{"community_id": "xinnan", "audience_group": "adult", "card_number": c} for c in (other_card, card)]
        r = await enr.post("/v1/residents/import", json={"residents": listed})
        assert r.status_code == 409 and r.json()["detail"][0]["loc"][-1] == "residents.1.card_number", r.text
        # one new card listed twice in one import (a spreadsheet's copied row): refused, not a 500
        fresh = _card()
        twice = [{"community_id": "xinnan", "audience_group": "adult", "card_number": fresh} for _ in range(2)]
        r = await enr.post("/v1/residents/import", json={"residents": twice})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "residents.1.card_number", r.text
        r = await enr.post("/v1/residents/lookup", json={"card_number": other_card})  # nothing of the import
        assert r.status_code == 404 and r.json()["detail"][0]["loc"][-1] == "card_number", r.text
        r = await enr.post("/v1/residents", json={"resident_id": "erased:abc", "community_id": "xinnan",
                                                  "audience_group": "adult"})  # fmt: skip
        assert r.status_code == 422 and "erased:" in r.text and r.json()["detail"][0]["loc"][-1] == "resident_id"
        # an identity card number given as the id would travel on every event: refused, saying where it goes
        r = await enr.post("/v1/residents", json={"resident_id": _card().replace("X", "1"), "community_id": "xinnan",
                                                  "audience_group": "adult"})  # fmt: skip
        assert r.status_code == 422 and "card_number" in r.text, r.text
        assert r.json()["detail"][0]["loc"][-1] == "resident_id", r.text
        for bad in ("12", "44 03", "x" * 65, "4403<script>"):
            r = await enr.post("/v1/residents/lookup", json={"card_number": bad})
            assert r.status_code == 422 and "card_number" in r.text, (bad, r.text)
    async with client("enrolment", "resident", legacy) as me:
        assert (await me.post("/v1/residents/lookup", json={"card_number": card})).status_code == 403


async def test_a_lost_card_is_replaced_by_an_operator_and_only_the_new_one_counts():
    place = await make_place()
    lost, new, someone_elses = _card(), _card(), _card()
    async with client("enrolment", "operator", "cards-desk") as enr:
        rid = (await _register(enr, card_number=lost))["resident_id"]
        await _register(enr, card_number=someone_elses)
        r = await enr.patch(f"/v1/residents/{rid}", json={"card_number": someone_elses})
        assert r.status_code == 409 and r.json()["detail"][0]["loc"][-1] == "card_number", r.text
        r = await enr.patch(f"/v1/residents/{rid}", json={"card_number": None})
        assert r.status_code == 422, r.text
        r = await enr.patch(f"/v1/residents/{rid}", json={"card_number": new})
        assert r.status_code == 200 and r.json()["card_number"] == new, r.text
    async with client("enrolment", "resident", rid) as me:
        r = await me.patch(f"/v1/residents/{rid}", json={"card_number": _card()})
        assert r.status_code == 403 and "card_number" in r.text, r.text
    with_new = checkin(place, new, now())
    await send_checkins(with_new)
    settled = await outcome(with_new["checkin_id"], timeout_s=60)
    assert (settled["outcome"], settled["resident_id"]) == ("recorded", rid), settled
    with_lost = checkin(place, lost, now())
    await send_checkins(with_lost)
    parked = await outcome(with_lost["checkin_id"], settled=False, timeout_s=30)
    assert (parked["outcome"], parked["reason"]) == ("pending", "unknown_resident"), parked
