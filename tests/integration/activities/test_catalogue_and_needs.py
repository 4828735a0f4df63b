"""Operators' venue, course and session lifecycle (and the events it publishes), needs voting and
ranking, and the HTTP error cases (401/403/404/409/422 with the field and the reason)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from tests.integration.activities.helpers import Tail, body, event_type, make_place, now, register_residents
from tests.support import client, eventually, headers_of, unique

pytestmark = pytest.mark.integration

T = "learnstreet.activities."


def fields(response) -> set[tuple]:
    return {tuple(d["loc"]) for d in response.json()["detail"]}


async def test_course_session_and_venue_lifecycle_publishes_each_change():
    venue_id, kiosk_id, course_id = unique("v"), unique("k"), unique("c")
    start = now() + timedelta(days=2)
    async with Tail("activities.catalogue") as tail, client("activities") as op:
        r = await op.post(
            "/v1/venues",
            json={"venue_id": venue_id, "community_id": "fenghuang", "name_zh": "凤凰党群服务中心",
                  "name_en": "Fenghuang service centre", "venue_type": "party_mass_service_centre", "capacity": 80,
                  "kiosk_ids": [kiosk_id]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await op.put(
            f"/v1/venues/{venue_id}",
            json={"community_id": "fenghuang", "name_zh": "凤凰党群服务中心", "name_en": "Fenghuang centre",
                  "venue_type": "party_mass_service_centre", "capacity": 100, "kiosk_ids": [kiosk_id]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        r = await op.post(
            "/v1/courses",
            json={"course_id": course_id, "title_zh": "平湖文化客厅：粤剧", "title_en": "Cantonese opera",
                  "theme": "traditional_culture", "audiences": ["elderly"], "brand": "Pinghu Cultural Living Room",
                  "community_id": "fenghuang"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await op.put(
            f"/v1/courses/{course_id}",
            json={"title_zh": "平湖文化客厅：粤剧", "title_en": "Cantonese opera for all",
                  "theme": "traditional_culture", "audiences": ["elderly", "adult"],
                  "brand": "Pinghu Cultural Living Room"},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["title_en"] == "Cantonese opera for all"
        sessions = []
        for i in range(2):
            r = await op.post(
                f"/v1/courses/{course_id}/sessions",
                json={"venue_id": venue_id, "starts_at": (start + timedelta(days=7 * i)).isoformat(),
                      "ends_at": (start + timedelta(days=7 * i, hours=2)).isoformat(), "capacity": 60},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            assert r.json()["community_id"] == "fenghuang"
            sessions.append(r.json()["session_id"])
        r = await op.patch(f"/v1/sessions/{sessions[0]}", json={"capacity": 40})
        assert r.status_code == 200 and r.json()["capacity"] == 40
        r = await op.post(f"/v1/sessions/{sessions[1]}/cancel", json={"reason": "typhoon"})
        assert r.status_code == 200 and r.json()["cancelled"]
        r = await op.post(f"/v1/courses/{course_id}/cancel", json={"reason": "teacher moved away"})
        assert r.status_code == 200 and r.json()["cancelled"]
        expected = 2 + 2 + 2 + 1 + 1 + 1 + 1  # venue×2, course×2, sessions×2, changed, cancelled×2, course cancelled
        mine = lambda rec: rec.key in (venue_id.encode(), course_id.encode())  # noqa: E731
        records = await tail.wait_for(mine, count=expected)
    # Order holds per key (one partition per venue, per course), not across keys.
    venue_events = [r for r in records if r.key == venue_id.encode()]
    course_events = [r for r in records if r.key == course_id.encode()]
    assert [event_type(r).removeprefix(T) for r in venue_events] == ["venue.registered.v1"] * 2
    assert body(venue_events[1])["capacity"] == 100
    assert [event_type(r).removeprefix(T) for r in course_events] == [
        "course.created.v1", "course.updated.v1", "session.scheduled.v1", "session.scheduled.v1",
        "session.changed.v1", "session.cancelled.v1", "session.cancelled.v1", "course.cancelled.v1",
    ]  # fmt: skip
    assert body(course_events[4])["capacity"] == 40
    # Cancelling the course cancelled its one remaining session, not the one cancelled before.
    assert body(course_events[6])["session_id"] == sessions[0]
    assert body(course_events[6])["reason"] == "teacher moved away"


async def test_catalogue_conflicts_and_unknown_ids():
    place = await make_place()
    async with client("activities") as op:
        again = await op.post(
            "/v1/venues",
            json={"venue_id": place.venue_id, "community_id": "xinnan", "name_zh": "x", "name_en": "x",
                  "venue_type": "library", "capacity": 5},
        )  # fmt: skip
        assert again.status_code == 409 and ("body", "venue_id") in fields(again)
        stolen = await op.post(
            "/v1/venues",
            json={"community_id": "xinnan", "name_zh": "x", "name_en": "x", "venue_type": "library", "capacity": 5,
                  "kiosk_ids": [place.kiosk_id]},
        )  # fmt: skip
        assert stolen.status_code == 409 and ("body", "kiosk_ids") in fields(stolen)
        assert (await op.get(f"/v1/courses/{unique('nope')}")).status_code == 404
        assert (await op.get(f"/v1/sessions/{unique('nope')}")).status_code == 404
        assert (await op.patch(f"/v1/sessions/{unique('nope')}", json={"capacity": 3})).status_code == 404
        r = await op.post(f"/v1/courses/{unique('nope')}/cancel", json={})
        assert r.status_code == 404 and ("body", "course_id") in fields(r)
        assert (await op.post(f"/v1/courses/{place.course_id}/cancel", json={})).status_code == 200
        r = await op.post(f"/v1/courses/{place.course_id}/cancel", json={})
        assert r.status_code == 409
        r = await op.post(
            f"/v1/courses/{place.course_id}/sessions",
            json={"venue_id": place.venue_id, "starts_at": now().isoformat(),
                  "ends_at": (now() + timedelta(hours=1)).isoformat(), "capacity": 5},
        )  # fmt: skip
        assert r.status_code == 409 and ("body", "course_id") in fields(r)


async def test_catalogue_bad_fields_are_422_with_the_field():
    place = await make_place()
    start = now() + timedelta(days=1)
    async with client("activities") as op:
        r = await op.post(
            "/v1/venues",
            json={"community_id": "atlantis", "name_zh": "x", "name_en": "x", "venue_type": "castle", "capacity": 0},
        )
        assert {("body", "venue_type"), ("body", "capacity")} <= fields(r)
        r = await op.post(
            "/v1/venues",
            json={"community_id": "atlantis", "name_zh": "x", "name_en": "x", "venue_type": "library", "capacity": 9},
        )
        assert r.status_code == 422 and ("body", "community_id") in fields(r)
        r = await op.post("/v1/courses", json={"title_zh": "x", "title_en": "x", "theme": "astrology"})
        assert r.status_code == 422 and ("body", "theme") in fields(r)
        r = await op.post(
            "/v1/courses", json={"title_zh": "x", "title_en": "x", "theme": "health", "provider_id": unique("p")}
        )
        assert r.status_code == 422 and ("body", "provider_id") in fields(r)
        bad_sessions = [
            ({"ends_at": start.isoformat()}, "ends_at"),
            ({"capacity": 500}, "capacity"),  # more than the venue holds
            ({"venue_id": unique("v")}, "venue_id"),
            ({"starts_at": "2026-05-01T09:00:00"}, "starts_at"),  # no offset
        ]
        for change, field in bad_sessions:
            payload = {"venue_id": place.venue_id, "starts_at": start.isoformat(),
                       "ends_at": (start + timedelta(hours=1)).isoformat(), "capacity": 5, **change}  # fmt: skip
            r = await op.post(f"/v1/courses/{place.course_id}/sessions", json=payload)
            assert r.status_code == 422, (field, r.text)
            assert ("body", field) in fields(r), (field, r.text)
        r = await op.patch(f"/v1/sessions/{place.session_id}", json={"ends_at": place.starts_at.isoformat()})
        assert r.status_code == 422 and ("body", "ends_at") in fields(r)


async def test_provider_sets_the_course_provider_kind():
    provider_id = unique("p")
    async with client("activities") as op:
        r = await op.post(
            "/v1/providers",
            json={"provider_id": provider_id, "kind": "counsellor", "name_zh": "李老师", "name_en": "Li"},
        )
        assert r.status_code == 201
        assert (await op.post("/v1/providers", json=r.json())).status_code == 409
        r = await op.post(
            "/v1/courses",
            json={"title_zh": "心理", "title_en": "Wellbeing", "theme": "health", "provider_id": provider_id},
        )
        assert r.status_code == 201 and r.json()["provider_kind"] == "counsellor"


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [
        ("post", "/v1/venues", None, 401),
        ("post", "/v1/venues", "resident", 403),
        ("post", "/v1/courses/x/sessions", "kiosk", 403),
        ("patch", "/v1/sessions/x", "assessor", 403),
        ("post", "/v1/needs/votes", None, 401),
        ("post", "/v1/needs/votes", "operator", 403),
        ("get", "/v1/needs/ranking?community_id=pinghu", None, 401),
    ],
)
async def test_auth_is_required_and_roles_are_checked(method, path, role, expected):
    async with client("activities", role=role) as http:
        r = await http.request(method, path, json={})
    assert r.status_code == expected, r.text


async def test_needs_votes_ranking_and_courses_that_answer_them():
    community = "shangmugu"
    residents = [unique("r") for _ in range(3)]
    await register_residents(*residents, community_id=community)
    async with client("activities") as op:
        before = {n["theme"]: n["votes"] for n in (await op.get(f"/v1/needs/ranking?community_id={community}")).json()}

    async with Tail("activities.needs") as tail:
        # The resident's community comes from enrolment's event; wait until it has arrived.
        first = await eventually(lambda: _vote_when_known(residents[0], "law"))
        assert first.status_code == 201 and first.json()["community_id"] == community
        vote_ids = {first.json()["vote_id"]}
        for resident in residents[1:]:
            r = await _vote(resident, "law")
            assert r.status_code == 201, r.text
            vote_ids.add(r.json()["vote_id"])
        r = await _vote(residents[0], "parenting")
        assert r.status_code == 201
        vote_ids.add(r.json()["vote_id"])
        again = await _vote(residents[0], "law")
        assert again.status_code == 409 and ("body", "theme") in fields(again)
        wrong = await _vote(residents[1], "law", community_id="pinghu")
        assert wrong.status_code == 422 and ("body", "community_id") in fields(wrong)
        bad = await _vote(residents[1], "astrology")
        assert bad.status_code == 422 and ("body", "theme") in fields(bad)
        voted = await tail.wait_for(lambda rec: rec.key == community.encode() and body(rec)["vote_id"] in vote_ids,
                                    count=4)  # fmt: skip
    assert {body(v)["theme"] for v in voted} == {"law", "parenting"}
    # need.voted.v2 names neither the resident nor their text (ADR 10): the index counts votes
    assert all(headers_of(v)["ce_type"] == "learnstreet.activities.need.voted.v2" for v in voted)
    assert not [v for v in voted for r in residents if r.encode() in v.value or r in str(headers_of(v))]
    assert all(set(body(v)) == {"vote_id", "community_id", "theme"} for v in voted)
    async with client("activities") as op:
        c = await op.post("/v1/courses", json={"title_zh": "普法", "title_en": "Know your rights", "theme": "law"})
        assert c.status_code == 201
        ranking = (await op.get(f"/v1/needs/ranking?community_id={community}")).json()
    law = next(n for n in ranking if n["theme"] == "law")
    assert law["votes"] - before.get("law", 0) == 3
    assert law["has_course"] and c.json()["course_id"] in law["course_ids"]
    assert law["theme_zh"] == "法治宣传"
    assert [n["rank"] for n in ranking] == list(range(1, len(ranking) + 1))
    # heaviest first: votes plus low satisfaction ratings (another test's low ratings in this
    # community put a theme with fewer votes above one with more: sorting by votes alone was wrong)
    assert all(n["weight"] == n["votes"] + n["low_ratings"] for n in ranking)
    assert all(a["weight"] >= b["weight"] for a, b in itertools.pairwise(ranking))
    async with client("activities", role="resident", subject=residents[0]) as me:
        mine = await me.get(f"/v1/residents/{residents[0]}/votes")
        assert mine.status_code == 200 and {v["theme"] for v in mine.json()} == {"law", "parenting"}
        assert (await me.get(f"/v1/residents/{residents[1]}/votes")).status_code == 403
        assert (await me.get(f"/v1/residents/{residents[1]}/attendance/s-1")).status_code == 403
    async with client("activities") as op:
        r = await op.get("/v1/needs/ranking?community_id=atlantis")
        assert r.status_code == 422


async def _vote(resident: str, theme: str, **extra):
    async with client("activities", role="resident", subject=resident) as me:
        return await me.post("/v1/needs/votes", json={"theme": theme, "topic_text": "", **extra})


async def _vote_when_known(resident: str, theme: str):
    r = await _vote(resident, theme)
    return r if r.status_code != 422 else None
