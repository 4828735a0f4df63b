"""The rules nominate (提名) once per (kind, period, recipient), even when the events are replayed; a
candidate is an honour only after its selection (tests/integration/scoring/test_selection_workflow.py
takes one from candidate to award and revocation)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.events.catalogue import SessionScheduled
from shared.events.envelope import Envelope, envelop
from shared.events.topics import HONOURS
from tests.integration.scoring.events import attendance, course, resident, scoring_db, send
from tests.support import client, eventually, headers_of, producer, read_topic, unique

pytestmark = pytest.mark.integration
YEAR = str(datetime.now(UTC).astimezone().year)


async def _honours(http, **params) -> list[dict]:
    r = await http.get("/v1/honours", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_learning_star_is_nominated_once_even_when_replayed():
    star = unique("star")
    events = [attendance(star, community="hehua", minutes=25 * 60) for _ in range(2)]  # 50 h ≥ 40 h
    activities = await producer("activities")
    try:
        await send(activities, *events)
        async with client("scoring", "resident", subject=star) as mine:
            found = await eventually(lambda: _honours(mine, kind="learning_star", state="all"), timeout_s=20)
            assert len(found) == 1 and found[0]["recipient_id"] == star and found[0]["resident_ids"] == [star]
            assert found[0]["name_zh"] == "百姓学习之星" and found[0]["state"] == "nominated"
            honour_id = found[0]["honour_id"]
            # Replay everything, twice, then one more attendance: still a single candidate, and no honour.
            await send(activities, *events, *events, attendance(star, community="hehua", minutes=60))
            await asyncio.sleep(2.5)
            assert [h["honour_id"] for h in await _honours(mine, state="all")] == [honour_id]
            assert await _honours(mine) == []  # the honours awarded: none before its selection
        records = await read_topic(
            HONOURS.name,
            until=lambda rs: any(r.key == honour_id.encode() for r in rs),
        )
        types = [headers_of(r)["ce_type"] for r in records if r.key == honour_id.encode()]
        assert types == ["learnstreet.scoring.honour.nominated.v1"]
    finally:
        await activities.stop()


async def test_family_candidate_and_a_rejection():
    run = unique("fam")
    members = [f"{run}-m{i}" for i in range(3)]
    volunteer = f"{run}-vol"
    activities, enrolment = await producer("activities"), await producer("enrolment")
    db = await scoring_db()
    try:
        await send(enrolment, *[resident(m, "lichang", family_id=f"{run}-family") for m in members])
        await send(activities, course(f"{run}-course", provider_id=volunteer, provider_kind="volunteer"))
        await send(activities, *[attendance(m, community="lichang", minutes=11 * 60, course_id=f"{run}-course")
                                 for m in members])  # fmt: skip
        async with client("scoring", "operator") as http:
            family = await eventually(
                lambda: _honours(http, kind="learning_family", resident_id=members[0], state="nominated")
            )
            assert family[0]["recipient_id"] == f"{run}-family" and sorted(family[0]["resident_ids"]) == members
            assert family[0]["community_id"] == "lichang"

            hid = family[0]["honour_id"]
            # A candidate is not revoked (it is rejected, or objected to); a missing one is 404.
            r = await http.post(f"/v1/honours/{hid}/revoke", json={"reason": "duplicate family record"})
            assert r.status_code == 409 and r.json()["detail"][0]["loc"][-1] == "state", r.text
            r = await http.post("/v1/honours/00000000-0000-0000-0000-000000000000/revoke", json={"reason": "x"})
            assert r.status_code == 404
            r = await http.post(f"/v1/honours/{hid}/revoke", json={"reason": ""})
            assert r.status_code == 422
            r = await http.post(f"/v1/honours/{hid}/community-review",
                                json={"decision": "rejected", "reason": "duplicate family record"})  # fmt: skip
            assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
            # A rejected candidate is not nominated again by the rules.
            await send(activities, attendance(members[1], community="lichang", minutes=60))
            await asyncio.sleep(2)
            again = await _honours(http, kind="learning_family", resident_id=members[0], state="all")
            assert [h["state"] for h in again] == ["rejected"]
        assert await db.fetchval("SELECT count(*) FROM honours WHERE recipient_id = $1", f"{run}-family") == 1
    finally:
        await activities.stop()
        await enrolment.stop()
        await db.close()


async def test_competition_results_nominate_once_and_assessments_keep_history():
    run = unique("quiz")
    winners = [f"{run}-w{i}" for i in range(2)]
    body = {"period": YEAR, "round": 1, "results": [{"place": i + 1, "resident_id": w, "community_id": "xinmu"}
                                                    for i, w in enumerate(winners)]}  # fmt: skip
    async with client("scoring", "operator") as http:
        setup = {"competition_id": run, "name_zh": "知识竞赛", "name_en": "quiz", "rounds": 1, "places": 2}
        assert (await http.post("/v1/competitions", json=setup)).status_code == 201
        r = await http.post(f"/v1/competitions/{run}/results", json=body)
        assert r.status_code == 201, r.text
        assert [(a["new"], a["state"], a["place"]) for a in r.json()["nominated"]] == [
            (True, "nominated", 1), (True, "nominated", 2)]  # fmt: skip
        r = await http.post(f"/v1/competitions/{run}/results", json=body)
        assert [a["new"] for a in r.json()["nominated"]] == [False, False]
        r = await http.post(f"/v1/competitions/{run}/results", json={"period": "20x6", "results": []})
        assert r.status_code == 422

    async with client("scoring", "assessor", subject=f"{run}-expert") as expert:
        ok = {"indicator_id": "planning.annual_plan", "community_id": "xinmu", "score": 2.0,
              "evidence_text": "2026 plan, minutes of 3 meetings",
              "evidence_url": "https://example.org/plan.pdf"}  # fmt: skip
        r = await expert.post("/v1/assessments", json=ok)
        assert r.status_code == 201, r.text
        r = await expert.post("/v1/assessments", json={**ok, "score": 3.5})
        assert r.status_code == 201
        bad = [({**ok, "score": 9}, "score"), ({**ok, "indicator_id": "implementation.participation_4w"},
               "indicator_id"), ({**ok, "indicator_id": "nope"}, "indicator_id"),
               ({**ok, "community_id": "atlantis"}, "community_id")]  # fmt: skip
        for payload, fld in bad:
            r = await expert.post("/v1/assessments", json=payload)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == fld, r.text
        query = {"community_id": "xinmu", "indicator_id": "planning.annual_plan"}
        history = (await expert.get("/v1/assessments", params=query)).json()
        mine = [a for a in history["items"] if a["assessor"] == f"{run}-expert"]
        assert [a["score"] for a in mine] == [3.5, 2.0]

        async def latest_counts():
            view = (await expert.get("/v1/index/xinmu")).json()
            leaf = next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == "planning.annual_plan")
            return leaf["score"] == 3.5 or None

        await eventually(latest_counts, timeout_s=30)  # correctness here; freshness is tested elsewhere


def _session(session_id: str, course_id: str, starts_at: datetime, hours: float) -> Envelope:
    data = SessionScheduled(
        session_id=session_id, course_id=course_id, venue_id="v-lichang", community_id="lichang",
        starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), capacity=30,
    )  # fmt: skip
    return envelop(data, source="learnstreet/activities")


async def test_volunteer_teaching_hours_are_the_hours_taught_not_the_attendees_hours():
    """Issue 14: one two-hour class for ten people counted as twenty teaching hours, which alone
    earned Excellent Volunteer (20 h). Hours taught are the length of the volunteer's sessions that
    were held (someone attended), however many attended."""
    run = unique("taught")
    volunteer, course_id = f"{run}-vol", f"{run}-course"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    activities = await producer("activities")
    try:
        await send(activities, course(course_id, provider_id=volunteer, provider_kind="volunteer"))
        await send(activities, _session(f"{run}-s0", course_id, start, 2))
        class_of_ten = [
            attendance(f"{run}-r{i}", community="lichang", minutes=120, session_id=f"{run}-s0", course_id=course_id,
                       at=start + timedelta(minutes=5))
            for i in range(10)
        ]  # fmt: skip
        await send(activities, *class_of_ten)
        # a trigger after those: a learning star elsewhere shows the rules ran past the class
        marker = unique("marker")
        await send(activities, attendance(marker, community="lichang", minutes=41 * 60))
        async with client("scoring", "operator") as http:
            await eventually(lambda: _honours(http, kind="learning_star", resident_id=marker, state="all"))
            assert await _honours(http, kind="excellent_volunteer", resident_id=volunteer, state="all") == []

            # nine more two-hour sessions with one attendee each: 20 hours taught
            for n in range(1, 10):
                at = start + timedelta(hours=3 * n)
                await send(activities, _session(f"{run}-s{n}", course_id, at, 2))
                await send(activities, attendance(f"{run}-r0", community="lichang", minutes=120,
                                                  session_id=f"{run}-s{n}", course_id=course_id,
                                                  at=at + timedelta(minutes=5)))  # fmt: skip
            vol = await eventually(
                lambda: _honours(http, kind="excellent_volunteer", resident_id=volunteer, state="nominated")
            )
            assert "20.0 volunteer teaching hours" in vol[0]["reason"]
    finally:
        await activities.stop()


async def test_an_enterprise_needs_real_learning_and_honours_go_to_the_community_of_most_members():
    """Issue 14: Book-Fragrant Enterprise needed 3 of 5 registered employees to attend for a minute,
    and family and enterprise honours were credited to the alphabetically first community of their
    members. Now each counted employee has learnt `min_hours_each` (indicator file), and a family or
    enterprise belongs to the community most of its members live in."""
    run = unique("ent")
    employer, family = f"{run}-employer", f"{run}-family"
    staff = [f"{run}-e{i}" for i in range(5)]
    homes = ["bainikeng", "xinnan", "xinnan", "xinnan", "xinnan"]  # bainikeng sorts first
    members = [f"{run}-m{i}" for i in range(3)]
    activities, enrolment = await producer("activities"), await producer("enrolment")
    try:
        await send(enrolment, *[resident(e, home, employer_id=employer) for e, home in zip(staff, homes, strict=True)])
        await send(enrolment, resident(members[0], "bainikeng", family_id=family),
                   *[resident(m, "xinnan", family_id=family) for m in members[1:]])  # fmt: skip
        await send(
            activities,
            *[attendance(e, community=home, minutes=1) for e, home in zip(staff[:3], homes[:3], strict=True)],
        )
        marker = unique("marker")
        await send(activities, attendance(marker, community="xinnan", minutes=41 * 60))
        async with client("scoring", "operator") as http:
            await eventually(lambda: _honours(http, kind="learning_star", resident_id=marker, state="all"))
            assert await _honours(http, kind="book_fragrant_enterprise", resident_id=staff[0], state="all") == []

            await send(activities, *[attendance(e, community=home, minutes=8 * 60)
                                     for e, home in zip(staff[:3], homes[:3], strict=True)])  # fmt: skip
            await send(activities, *[attendance(m, community="xinnan", minutes=11 * 60) for m in members])
            enterprise = await eventually(
                lambda: _honours(http, kind="book_fragrant_enterprise", resident_id=staff[1], state="nominated")
            )
            assert enterprise[0]["recipient_id"] == employer and enterprise[0]["community_id"] == "xinnan"
            household = await eventually(
                lambda: _honours(http, kind="learning_family", resident_id=members[0], state="nominated")
            )
            assert household[0]["recipient_id"] == family and household[0]["community_id"] == "xinnan"
    finally:
        await activities.stop()
        await enrolment.stop()
