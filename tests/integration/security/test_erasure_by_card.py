"""The issue's end-to-end check for a resident registered with a kiosk card (ADR 10, amendment
2026-12-07): after the erasure, a read of every topic from the beginning with the admin principal
finds the card nowhere (the cards topic carries keyed digests; the kiosks' scans are cut) and the
phone and e-mail only on enrolment.contacts (superseded by the tombstone, gone at the next
compaction); no database holds any of the three; the card at a kiosk is refused without being
kept; registering it again is refused."""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid

import asyncpg
import pytest

from tests.integration.activities.helpers import checkin, make_place, now, outcome, send_checkins
from tests.integration.security.test_erasure import _export, _rows_mentioning
from tests.support import ROOT, client, env, eventually

pytestmark = pytest.mark.integration

_RUN = uuid.uuid4().int % 10**8
CARD = "4403" + "".join(random.choices("0123456789", k=14))
PHONE, EMAIL = f"+86138{_RUN:08d}", f"card-erasure-{_RUN}@example.org"


@pytest.fixture(scope="module")
async def erased() -> dict:
    place = await make_place()
    async with client("enrolment", "operator", "card-desk") as enr:
        r = await enr.post("/v1/residents", json={"card_number": CARD, "community_id": "xinnan",
                                                  "audience_group": "adult", "phone": PHONE, "email": EMAIL,
                                                  "consent": True})  # fmt: skip
        assert r.status_code == 201, r.text
        rid = r.json()["resident_id"]
    scan = checkin(place, CARD, now())
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"], timeout_s=90))["outcome"] == "recorded"

    async def everywhere():
        scoring = (await _export("scoring", rid))["tables"]
        passport = (await _export("enrolment", rid))["tables"]
        notify = (await _export("notify", rid))["tables"]
        return (scoring.get("attendance") and passport.get("passport_attendance") and notify.get("contacts")) or None

    await eventually(everywhere, timeout_s=150, every_s=1)
    async with client("enrolment", "operator", "card-desk") as enr:
        r = await enr.post(f"/v1/residents/{rid}/erasure",
                           json={"reason": "the resident's written request", "approved_by": "card-dpo"})  # fmt: skip
        assert r.status_code == 201, r.text
        request_id = uuid.UUID(r.json()["request_id"])
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:

        async def trimmed():  # the resident's scans are cut from kiosk.checkins
            return await conn.fetchval(
                "SELECT 1 FROM kiosk_trims WHERE request_id = $1 AND trimmed_at IS NOT NULL", request_id
            )

        await eventually(trimmed, timeout_s=150, every_s=1)
    finally:
        await conn.close()
    async with client("enrolment", "operator", "card-desk") as enr:

        async def complete():
            status = (await enr.get(f"/v1/erasures/{request_id}")).json()
            return status if status.get("complete") else None

        await eventually(complete, timeout_s=150, every_s=1)
    return {"rid": rid, "place": place}


@pytest.mark.parametrize("service", ["activities", "enrolment", "scoring", "notify"])
async def test_no_database_holds_the_card_phone_or_email(erased, service):
    assert not await _rows_mentioning(service, (CARD, PHONE, EMAIL))


def test_a_full_read_of_every_topic_finds_the_card_nowhere(erased):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), "privacy", "find-in-topics", CARD,
         "--phone", PHONE, "--email", EMAIL, "--json"],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env={**os.environ, **env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {t["topic"]: t["found"] for t in report["topics"]}
    print(f"a full read of every topic, {report['records']} records: { {t: f for t, f in found.items() if f} }")
    assert {"enrolment.resident-cards", "activities.attendance", "enrolment.residents"} <= set(found)
    card_topics = {t for t, f in found.items() if f.get("card")}
    contact_topics = {t for t, f in found.items() if f.get("phone") or f.get("email")}
    # before: the card in activities.attendance, enrolment.residents, enrolment.enrolments,
    # scoring.honours and kiosk.checkins, for ever; the cards topic carries digests only
    assert card_topics == set(), card_topics
    assert contact_topics <= {"enrolment.contacts"}, contact_topics


async def test_the_card_at_a_kiosk_is_refused_and_registering_it_again_too(erased):
    """After the full read: this scan puts the card on kiosk.checkins again (a week, then cut)."""
    scan = checkin(erased["place"], CARD, now())
    await send_checkins(scan)
    refused = await outcome(scan["checkin_id"], timeout_s=60)
    assert (refused["outcome"], refused["reason"]) == ("rejected", "resident_erased"), refused
    assert not await _rows_mentioning("activities", (CARD, PHONE, EMAIL))
    async with client("enrolment", "operator", "card-desk") as enr:
        r = await enr.post("/v1/residents", json={"card_number": CARD, "community_id": "xinnan",
                                                  "audience_group": "adult"})  # fmt: skip
        assert r.status_code == 409 and r.json()["detail"][0]["loc"][-1] == "card_number", r.text
