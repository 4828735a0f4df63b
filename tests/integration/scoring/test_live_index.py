"""Attendance published to Kafka moves the live index, exactly once, visible through the API."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import orjson
import pytest

from shared.events.topics import INDEX
from tests.integration.scoring.events import adjustment, attendance, resident, scoring_db, send
from tests.support import client, eventually, producer, read_topic, unique

pytestmark = pytest.mark.integration


async def _leaf(http, community: str, indicator: str) -> dict:
    view = (await http.get(f"/v1/index/{community}")).json()
    return next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == indicator)


async def test_attendance_moves_the_index_exactly_once():
    run = unique("live")
    residents = [f"{run}-r{i}" for i in range(20)]
    events = [attendance(r, community="xinnan", minutes=90, course_id=f"{run}-c") for r in residents]
    activities, enrolment = await producer("activities"), await producer("enrolment")
    db = await scoring_db()
    try:
        async with client("scoring", "operator") as http:
            before = await _leaf(http, "xinnan", "implementation.participation_4w")
            await send(enrolment, *[resident(r, "xinnan") for r in residents])
            await send(activities, *events)
            # Redelivered duplicates (same event ids) and an adjustment (a new total, not a delta).
            await send(activities, *events[:10], adjustment(events[0], 150), adjustment(events[0], 150))

            async def moved():
                leaf = await _leaf(http, "xinnan", "implementation.participation_4w")
                return leaf if leaf["numerator"] >= before["numerator"] + 20 else None

            after = await eventually(moved, timeout_s=20)
            # Divided by the community's reference population, whoever registered (issue 14).
            assert after["denominator"] == before["denominator"] == 45000
            assert (after["denominator_kind"], after["denominator_zh"]) == ("population", "常住人口（参考数据）")
            assert after["how"].startswith("distinct attendees living in it / reference population")

        async def settled():
            return await db.fetchval(
                "SELECT count(*) FROM attendance WHERE resident_id = ANY($1::text[]) AND recorded", residents
            ) == 20 and await db.fetchval(
                "SELECT minutes FROM attendance WHERE attendance_id = $1", events[0].data.attendance_id
            ) == 150  # fmt: skip

        await eventually(settled, timeout_s=20)
        minutes = await db.fetch(
            "SELECT resident_id, minutes FROM resident_minutes WHERE resident_id = ANY($1::text[])", residents
        )
        assert {r["resident_id"]: r["minutes"] for r in minutes} == {r: 150 if i == 0 else 90
                                                                     for i, r in enumerate(residents)}  # fmt: skip
        days = await db.fetchval("SELECT count(*) FROM attendees WHERE resident_id = ANY($1::text[])", residents)
        assert days == 20
        daily = await db.fetchrow(
            "SELECT sum(attendances) AS n, sum(minutes) AS m FROM attendance_daily WHERE course_id = $1", f"{run}-c"
        )
        assert (daily["n"], daily["m"]) == (20, 150 + 19 * 90)
    finally:
        await activities.stop()
        await enrolment.stop()
        await db.close()


async def test_index_change_is_visible_within_a_second_of_consumption():
    run = unique("fresh")
    activities = await producer("activities")
    try:
        async with client("scoring", "resident", subject=run) as http:
            before = await _leaf(http, "street", "implementation.hours_per_resident")
            await send(activities, attendance(f"{run}-r", community="fenghuang", minutes=600))

            async def moved():
                leaf = await _leaf(http, "street", "implementation.hours_per_resident")
                return leaf["numerator"] >= before["numerator"] + 10 or None

            await eventually(moved, timeout_s=10, every_s=0.05)
    finally:
        await activities.stop()


async def test_api_rejects_bad_input_and_unauthenticated_requests():
    async with client("scoring", None) as anonymous:
        assert (await anonymous.get("/v1/index")).status_code == 401
    async with client("scoring", "operator") as http:
        r = await http.get("/v1/index/atlantis")
        assert r.status_code == 404 and "unknown community" in r.json()["detail"][0]["msg"]
        r = await http.get("/v1/index/pinghu/history", params={"days": 0})
        assert r.status_code == 422
    async with client("scoring", "resident", subject="r-someone") as resident_http:
        r = await resident_http.get("/v1/honours", params={"resident_id": "r-else"})
        assert r.status_code == 403
        r = await resident_http.post("/v1/assessments", json={})
        assert r.status_code == 403


async def test_index_updated_is_published_at_most_once_per_community_per_second():
    started = datetime.now(UTC)
    # Each assessment moves xinmu's total (computed leaves may be capped and not move at all).
    async with client("scoring", "assessor", subject=unique("rate")) as expert:
        for i in range(40):  # a change every 0.3 s for 12 s+: more often than the index may be published
            body = {"indicator_id": "organisation.management_system", "community_id": "xinmu",
                    "score": round(0.1 + (i % 10) * 0.37 + i * 0.001, 3), "evidence_text": "rate test"}  # fmt: skip
            assert (await expert.post("/v1/assessments", json=body)).status_code == 201
            await asyncio.sleep(0.3)

    def updates(records):
        out = []
        for r in records:
            body = orjson.loads(r.value)
            at = datetime.fromisoformat(body["computed_at"])
            if r.key == b"xinmu" and at >= started:
                out.append(at)
        return sorted(out)

    records = await read_topic(INDEX.name, until=lambda rs: len(updates(rs)) >= 2, timeout_s=60)
    times = updates(records)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= 0.9, gaps
