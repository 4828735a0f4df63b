"""The learning passport against the real stack: attendance and honours published as activities
and scoring publish them reach the resident's passport exactly once, with names from the
catalogue, credits by the street's rule, waitlist positions; only the resident and operators read
it; and a rebuild from the topics equals the live tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.events.catalogue import (
    CourseCreated,
    HonourAwarded,
    HonourRevoked,
    VenueRegistered,
)
from shared.events.envelope import envelop
from tests.integration.enrolment.helpers import LEARNER, published, register_many, schedule
from tests.integration.scoring.events import adjustment, attendance
from tests.support import client, env, eventually, rebuild, unique

pytestmark = pytest.mark.integration


async def _passport(resident_id: str, *, role: str = "resident", subject: str | None = None):
    async with client("enrolment", role, subject or resident_id) as http:
        return await http.get(f"/v1/residents/{resident_id}/passport")


def _at_venue(recorded, venue: str):
    data = recorded.data.model_copy(update={"venue_id": venue, "theme": None})
    return envelop(data, source="learnstreet/activities", event_id=recorded.id)


async def test_passport_shows_attendance_hours_credits_honours_and_waitlist_exactly_once():
    me, other, seated = await register_many(3, **LEARNER)
    run = unique("pp")
    venue, course = f"{run}-v", f"{run}-c"
    # The catalogue as activities publishes it: names in zh-CN and en.
    await published(
        "activities",
        envelop(VenueRegistered(venue_id=venue, community_id="pinghu", name_zh="平湖图书馆", name_en="Pinghu Library",
                                venue_type="library", capacity=50), source="learnstreet/activities"),
        envelop(CourseCreated(course_id=course, title_zh="智能手机入门", title_en="Smartphone basics",
                              theme="vocational_digital"), source="learnstreet/activities"),
    )  # fmt: skip
    held = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai
    # No theme on the events: the course's theme applies.
    first = _at_venue(attendance(me, course_id=course, minutes=90, at=held), venue)
    second = _at_venue(attendance(me, course_id=course, minutes=60, at=held + timedelta(days=7)), venue)
    short = _at_venue(attendance(me, course_id=course, minutes=10, at=held + timedelta(days=8)), venue)
    await published("activities", first, second, adjustment(first, 150), short)
    star = f"{run}-h1"
    family = f"{run}-h2"
    await published(
        "scoring",
        envelop(HonourAwarded(honour_id=star, kind="learning_star", period="2026", recipient_kind="resident",
                              recipient_id=me, community_id="pinghu"), source="learnstreet/scoring"),
        envelop(HonourAwarded(honour_id=family, kind="learning_family", period="2026", recipient_kind="family",
                              recipient_id=f"{run}-f", resident_ids=[me, other]), source="learnstreet/scoring"),
        envelop(HonourRevoked(honour_id=family, reason="registered twice"), source="learnstreet/scoring"),
    )  # fmt: skip
    # A full session: `me` waits behind nobody at position 1.
    _, session_id = await schedule(1)
    async with client("enrolment") as http:
        seat = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": seated})
        wait = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": me})
    assert seat.json()["status"] == "confirmed" and wait.json()["status"] == "waitlisted"

    async def complete():
        response = await _passport(me)
        body = response.json()
        done = (
            response.status_code == 200
            and len(body["attendance"]) == 3
            and any(a["minutes"] == 150 for a in body["attendance"])
            and {h["state"] for h in body["honours"]} == {"awarded", "revoked"}
        )
        return body if done else None

    body = await eventually(complete, timeout_s=30)
    # A redelivery of everything changes nothing (exactly once by stored offsets and ids).
    await published("activities", first, second, short)
    await published("activities", attendance(seated, course_id=course, minutes=30))  # a marker after them
    await eventually(lambda: _has_attendance(seated), timeout_s=30)
    again = (await _passport(me)).json()
    assert again["attendance"] == body["attendance"] and again["years"] == body["years"]

    by_minutes = sorted(body["attendance"], key=lambda a: a["minutes"])
    assert [a["minutes"] for a in by_minutes] == [10, 60, 150]
    row = by_minutes[2]
    assert row["course"] == {"zh-CN": "智能手机入门", "en": "Smartphone basics"}
    assert row["venue"] == {"zh-CN": "平湖图书馆", "en": "Pinghu Library"}
    assert row["date"] == "2026-03-02" and row["theme"] == "vocational_digital"
    [year] = body["years"]
    assert (year["year"], year["minutes"], year["hours"]) == (2026, 220, 3.67)
    [theme] = year["themes"]
    # 210 credited minutes (the 10-minute scan earns nothing) / 120 = 1.75 -> 1.5 credits (half steps).
    assert theme["credited_minutes"] == 210 and theme["credits"] == 1.5 and year["credits"] == 1.5
    assert theme["name"] == {"zh-CN": "职业与数字技能", "en": "Vocational and digital skills"}
    assert body["credits_rule"]["hours_per_credit"] == 2
    honours = {h["honour_id"]: h for h in body["honours"]}
    assert honours[star]["state"] == "awarded" and honours[star]["name"]["zh-CN"] == "百姓学习之星"
    assert honours[family]["state"] == "revoked" and honours[family]["revoke_reason"] == "registered twice"
    assert honours[family]["name"] == {"zh-CN": "书香家庭", "en": "Book-Fragrant Family"}
    [enrolment] = [e for e in body["enrolments"] if e["session_id"] == session_id]
    assert enrolment["status"] == "waitlisted" and enrolment["position"] == 1
    # The family honour shows in the other named resident's passport too, not in the seated one's.
    assert {h["honour_id"] for h in (await _passport(other)).json()["honours"]} == {family}
    assert (await _passport(seated)).json()["honours"] == []


async def _has_attendance(resident_id: str) -> bool:
    response = await _passport(resident_id)
    return response.status_code == 200 and len(response.json()["attendance"]) == 1


async def test_only_the_resident_and_operators_read_a_passport():
    me, other = await register_many(2, **LEARNER)
    assert (await _passport(me)).status_code == 200
    denied = await _passport(other, subject=me)
    assert denied.status_code == 403
    assert (await _passport(other, role="operator", subject="op-1")).status_code == 200
    assert (await _passport(me, role="assessor", subject="a-1")).status_code == 403
    async with client("enrolment", role=None) as http:
        assert (await http.get(f"/v1/residents/{me}/passport")).status_code == 401
    unknown = await _passport("r-nobody-" + unique("x"), role="operator", subject="op-1")
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["body", "resident_id"]
    async with client("enrolment") as http:
        bad = await http.get("/v1/residents/bad%20id!/passport")
    assert bad.status_code == 422 and ("path", "resident_id") in {tuple(d["loc"]) for d in bad.json()["detail"]}


async def test_rebuild_from_the_topics_equals_the_live_passports():
    me, = await register_many(1, **LEARNER)  # fmt: skip
    run = unique("pprb")
    await published("activities", *[attendance(me, course_id=f"{run}-c", minutes=30 + i) for i in range(5)])
    await eventually(lambda: _count(me, 5), timeout_s=30)
    # live events keep arriving during the rebuild
    text = await _rebuild(during=published("activities", attendance(me, course_id=f"{run}-c", minutes=45)))
    assert "REBUILD-PASSPORTS equal=True swapped=True" in text, text
    # The swapped-in tables keep counting where the live ones were.
    await published("activities", attendance(me, course_id=f"{run}-c", minutes=50))
    await eventually(lambda: _count(me, 7), timeout_s=30)


async def test_an_erased_residents_passport_stays_gone_after_a_rebuild():
    # Their attendance stays in activities.attendance (old events keep the card number), so the
    # replay finds it again; the rebuild must drop it as the erasure did in the live tables.
    gone, kept = await register_many(2, **LEARNER)
    run = unique("pper")
    await published("activities", *[attendance(r, course_id=f"{run}-c", minutes=40) for r in (gone, kept)])
    await eventually(lambda: _count(gone, 1), timeout_s=30)
    await eventually(lambda: _count(kept, 1), timeout_s=30)
    # a checkpoint of the passports with the resident in it (ADR 10, amendment 2026-12-06)
    taken = await rebuild("services.enrolment", "checkpoint-passports", timeout_s=600)
    assert "CHECKPOINT rows=" in taken, taken
    assert await _checkpoint_rows_of(gone) > 0
    async with client("enrolment", "operator", "pp-desk") as http:
        erased = await http.post(f"/v1/residents/{gone}/erasure", json={"reason": "asked", "approved_by": "pp-dpo"})
    assert erased.status_code == 201, erased.text
    text = await _rebuild()
    assert "REBUILD-PASSPORTS equal=True swapped=True" in text, text
    assert (await _passport(gone, role="operator", subject="op-1")).status_code == 404
    assert await _count(kept, 1)
    # the erasure reached the checkpoint's copy, and a rebuild from it agrees with the live tables
    await eventually(lambda: _none_left_in_checkpoint(gone), timeout_s=60)
    text = await rebuild("services.enrolment", "rebuild-passports", "--swap", "--from-checkpoint", timeout_s=600)
    assert "REBUILD-PASSPORTS equal=True swapped=True" in text, text
    assert (await _passport(gone, role="operator", subject="op-1")).status_code == 404
    assert await _count(kept, 1)


async def _checkpoint_rows_of(resident_id: str) -> int:
    conn = await asyncpg.connect(env()["ENROLMENT_DATABASE_URL"])
    try:
        return await conn.fetchval(
            "SELECT (SELECT count(*) FROM passport_checkpoint.passport_attendance WHERE resident_id = $1)"
            " + (SELECT count(*) FROM passport_checkpoint.passport_honours WHERE $1 = ANY(resident_ids))",
            resident_id,
        )
    finally:
        await conn.close()


async def _none_left_in_checkpoint(resident_id: str) -> bool:
    return await _checkpoint_rows_of(resident_id) == 0


async def _rebuild(during=None) -> str:
    """`rebuild-passports --swap`, its output; `during` is awaited once while it runs."""
    return await rebuild("services.enrolment", "rebuild-passports", "--swap", during=during, timeout_s=600)


async def _count(resident_id: str, n: int) -> bool:
    response = await _passport(resident_id)
    return response.status_code == 200 and len(response.json()["attendance"]) >= n
