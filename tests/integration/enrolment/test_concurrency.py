"""Many residents at once: 200 concurrent requests for 20 seats, concurrent cancellations."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.enrolment.helpers import register_many, schedule, session_known
from tests.support import client

pytestmark = pytest.mark.integration


def _wide(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=http.base_url,
        headers=http.headers,
        timeout=60.0,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )


async def test_200_concurrent_enrolments_for_20_seats_give_20_confirmed_and_180_in_arrival_order():
    _, session_id = await schedule(20)
    residents = await register_many(200)
    async with client("enrolment") as base, _wide(base) as http:
        responses = await asyncio.gather(
            *(http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": r}) for r in residents)
        )
    assert [r.status_code for r in responses] == [201] * 200, [r.text for r in responses if r.status_code != 201][:3]
    results = sorted((r.json() for r in responses), key=lambda e: e["seq"])
    assert [e["seq"] for e in results] == list(range(1, 201))  # arrival order without gaps
    assert [e["status"] for e in results] == ["confirmed"] * 20 + ["waitlisted"] * 180
    assert [e["position"] for e in results[20:]] == list(range(1, 181))
    assert {e["resident_id"] for e in results} == set(residents)
    summary = await session_known(session_id)
    assert (summary["confirmed"], summary["waitlisted"]) == (20, 180)


async def test_concurrent_cancellations_promote_each_waitlisted_resident_at_most_once():
    _, session_id = await schedule(5)
    residents = await register_many(20)
    async with client("enrolment") as http:
        enrolments = []
        for resident in residents:  # one by one: a known order
            response = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": resident})
            assert response.status_code == 201, response.text
            enrolments.append(response.json())
    confirmed = [e for e in enrolments if e["status"] == "confirmed"]
    waitlisted = [e for e in enrolments if e["status"] == "waitlisted"]
    assert len(confirmed) == 5 and len(waitlisted) == 15
    # Cancel every seat and the last three of the waitlist at once, twice each (double clicks).
    to_cancel = [e["enrolment_id"] for e in confirmed + waitlisted[-3:]] * 2
    async with client("enrolment") as base, _wide(base) as http:
        responses = await asyncio.gather(*(http.delete(f"/v1/enrolments/{e}") for e in to_cancel))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 8 + [409] * 8, [r.text for r in responses if r.status_code not in (200, 409)]
    promoted = [p["resident_id"] for r in responses if r.status_code == 200 for p in r.json()["promoted"]]
    assert len(promoted) == len(set(promoted)) == 5
    assert set(promoted) == {e["resident_id"] for e in waitlisted[:5]}
    summary = await session_known(session_id)
    assert (summary["confirmed"], summary["waitlisted"]) == (5, 15 - 5 - 3)
    async with client("enrolment") as http:
        statuses = {}
        for resident in residents:
            rows = (await http.get(f"/v1/residents/{resident}/enrolments")).json()
            statuses[resident] = [r["status"] for r in rows if r["session_id"] == session_id]
    assert sum(s == ["confirmed"] for s in statuses.values()) == 5
    positions = []
    for e in waitlisted[5:12]:
        async with client("enrolment") as http:
            positions.append((await http.get(f"/v1/enrolments/{e['enrolment_id']}")).json()["position"])
    assert positions == list(range(1, 8))
