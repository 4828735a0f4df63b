"""Enrolment with several instances at once, all taking HTTP requests and consuming events.

Nothing in enrolment decides from process memory: every rule is read from and written to the
database under the session's row lock (services/enrolment/adapters/repository.py). The only
per-process caches are the street's communities (`entrypoints/http.py` `_communities`: the
reference files, the same for every instance and fixed for the process's life) and the token
cache (`shared/http/auth.py`: signature checks, no state of residents or sessions). These tests
show it with the stack's instance and two more (three instances; the `[2-instances]` cases send
through two of them), against the real broker and database.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
import httpx
import orjson
import pytest

from shared.events import topics
from shared.events.catalogue import SessionChanged
from tests.integration.enrolment.helpers import publish, register_many, schedule
from tests.integration.replicas import Instance, Replicas, extra_instances
from tests.support import env, eventually, headers_of, read_topic, unique

pytestmark = pytest.mark.integration

INSTANCES = pytest.mark.parametrize("n", [2, 3], ids=["2-instances", "3-instances"])


@pytest.fixture(scope="module")
async def replicas() -> AsyncIterator[Replicas]:
    async with extra_instances("enrolment", 2) as group:
        assert len(group.all) >= 3
        yield group


def _wide(instance: Instance) -> httpx.AsyncClient:
    http = instance.client()
    return httpx.AsyncClient(
        base_url=http.base_url,
        headers=http.headers,
        timeout=60.0,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


async def _through(instances: list[Instance], requests: list[tuple[str, str, dict | None]]) -> list[httpx.Response]:
    """Send all `requests` (method, path, json) at once, round-robin over `instances`."""
    clients = [_wide(i) for i in instances]
    try:
        ring = itertools.cycle(clients)
        return await asyncio.gather(*(next(ring).request(method, path, json=body) for method, path, body in requests))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _summary(instance: Instance, session_id: str) -> dict:
    async with instance.client() as http:
        response = await http.get(f"/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def _db(query: str, *args) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(env()["ENROLMENT_DATABASE_URL"])
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _enrol_in_order(instances: list[Instance], session_id: str, residents: list[str]) -> list[dict]:
    """One at a time (a known arrival order), alternating instances."""
    out = []
    for instance, resident in zip(itertools.cycle(instances), residents, strict=False):
        async with instance.client() as http:
            response = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": resident})
        assert response.status_code == 201, response.text
        out.append(response.json())
    return out


@INSTANCES
async def test_concurrent_enrolments_through_every_instance_never_exceed_capacity(replicas, n):
    instances = replicas.all[:n]
    _, session_id = await schedule(5)
    residents = await register_many(60)
    path = f"/v1/sessions/{session_id}/enrolments"
    responses = await _through(instances, [("POST", path, {"resident_id": r}) for r in residents])
    assert [r.status_code for r in responses] == [201] * 60, [r.text for r in responses if r.status_code != 201][:3]
    results = sorted((r.json() for r in responses), key=lambda e: e["seq"])
    assert [e["seq"] for e in results] == list(range(1, 61))
    assert [e["status"] for e in results] == ["confirmed"] * 5 + ["waitlisted"] * 55
    assert [e["position"] for e in results[5:]] == list(range(1, 56))
    for instance in instances:  # every instance reads the same counts
        summary = await _summary(instance, session_id)
        assert (summary["confirmed"], summary["waitlisted"]) == (5, 55)
    rows = await _db("SELECT status, count(*) AS n FROM enrolments WHERE session_id = $1 GROUP BY status", session_id)
    assert {r["status"]: r["n"] for r in rows} == {"confirmed": 5, "waitlisted": 55}


@INSTANCES
async def test_concurrent_cancellations_through_every_instance_promote_one_waiting_resident_per_freed_seat(replicas, n):
    instances = replicas.all[:n]
    _, session_id = await schedule(5)
    residents = await register_many(20)
    enrolments = await _enrol_in_order(instances, session_id, residents)
    confirmed = [e for e in enrolments if e["status"] == "confirmed"]
    waitlisted = [e for e in enrolments if e["status"] == "waitlisted"]
    assert len(confirmed) == 5 and len(waitlisted) == 15
    # Every seat and the last three of the waitlist cancelled at once, each twice (a double click
    # landing on two instances).
    doomed = [e["enrolment_id"] for e in confirmed + waitlisted[-3:]]
    responses = await _through(instances, [("DELETE", f"/v1/enrolments/{e}", None) for e in doomed * 2])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 8 + [409] * 8, [r.text for r in responses if r.status_code not in (200, 409)]
    promoted = [p["enrolment_id"] for r in responses if r.status_code == 200 for p in r.json()["promoted"]]
    assert sorted(promoted) == sorted(e["enrolment_id"] for e in waitlisted[:5])  # each once, in arrival order
    for instance in instances:
        summary = await _summary(instance, session_id)
        assert (summary["confirmed"], summary["waitlisted"]) == (5, 15 - 5 - 3)
    rows = await _db("SELECT status, count(*) AS n FROM enrolments WHERE session_id = $1 GROUP BY status", session_id)
    assert {r["status"]: r["n"] for r in rows} == {"confirmed": 5, "waitlisted": 7, "cancelled": 8}


async def test_a_resident_registered_through_one_instance_is_known_to_every_other_at_once(replicas):
    instances = replicas.all[:3]
    _, session_id = await schedule(50)
    for writer, reader in itertools.permutations(instances, 2):
        resident = unique("res")
        async with writer.client() as w, reader.client() as r:
            created = await w.post(
                "/v1/residents", json={"resident_id": resident, "community_id": "pinghu", "audience_group": "adult"}
            )
            assert created.status_code == 201, created.text
            # No wait in between: the reader must not decide from anything it learnt earlier.
            assert (await r.get(f"/v1/residents/{resident}")).status_code == 200
            enrolled = await r.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": resident})
            assert enrolled.status_code == 201, enrolled.text
            changed = await r.patch(f"/v1/residents/{resident}", json={"language": "en"})
            assert changed.status_code == 200, changed.text
            assert (await w.get(f"/v1/residents/{resident}")).json()["language"] == "en"
            mine = await w.get(f"/v1/residents/{resident}/enrolments")
            assert [e["session_id"] for e in mine.json()] == [session_id]


async def _published_by(instance: Instance) -> float:
    async with httpx.AsyncClient(base_url=instance.url, timeout=5.0) as http:
        text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("learnstreet_outbox_published_total{") and topics.ENROLMENTS.name in line
    )


def _facts(records, session_id: str) -> dict[tuple[str, str], set[str]]:
    """(event kind, enrolment id) -> the event ids it was published under, for one session."""
    facts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        if record.key != session_id.encode():
            continue
        body = orjson.loads(record.value)
        headers = headers_of(record)
        facts[(headers["ce_type"].split(".")[-2], body["enrolment_id"])].add(headers["ce_id"])
    return facts


def _expected(enrolments: list[dict], cancelled: list[str], promoted: list[str]) -> set[tuple[str, str]]:
    return (
        {(e["status"], e["enrolment_id"]) for e in enrolments}
        | {("cancelled", e) for e in cancelled}
        | {("promoted", e) for e in promoted}
    )


async def test_outbox_relays_of_every_instance_publish_each_fact_under_one_event_id(replicas):
    instances = replicas.all[:3]
    before = [await _published_by(i) for i in instances]
    _, session_id = await schedule(10)
    residents = await register_many(40)
    path = f"/v1/sessions/{session_id}/enrolments"
    responses = await _through(instances, [("POST", path, {"resident_id": r}) for r in residents])
    assert [r.status_code for r in responses] == [201] * 40
    enrolments = [r.json() for r in responses]
    seats = [e["enrolment_id"] for e in enrolments if e["status"] == "confirmed"]
    cancelled = seats[:6]
    responses = await _through(instances, [("DELETE", f"/v1/enrolments/{e}", None) for e in cancelled])
    assert [r.status_code for r in responses] == [200] * 6
    promoted = [p["enrolment_id"] for r in responses for p in r.json()["promoted"]]
    assert len(promoted) == 6
    # EnrolmentConfirmed's kind in ce_type is "confirmed", EnrolmentWaitlisted's "waitlisted".
    expected = _expected(enrolments, cancelled, promoted)

    records = await read_topic(
        topics.ENROLMENTS.name, until=lambda rs: set(_facts(rs, session_id)) >= expected, timeout_s=30
    )
    facts = _facts(records, session_id)
    assert set(facts) == expected  # every fact, nothing else
    assert {fact: ids for fact, ids in facts.items() if len(ids) != 1} == {}  # one event id per fact
    await _outbox_drains()
    after = [await _published_by(i) for i in instances]
    # More than one relay took part (each instance wakes its own after a request).
    assert sum(a > b for a, b in zip(after, before, strict=True)) >= 2, (before, after)


async def _outbox_drains() -> bool:
    async def empty() -> bool:
        return (await _db("SELECT count(*) AS n FROM outbox"))[0]["n"] == 0

    return await eventually(empty, timeout_s=20)


async def test_capacity_changes_during_rebalances_promote_each_waiting_resident_once(replicas):
    # Seats added one by one on activities.catalogue while an instance joins and leaves the
    # consumer group: whichever instance applies a change, each seat promotes one resident once.
    course_id, session_id = await schedule(2)
    residents = await register_many(12)
    await _enrol_in_order(replicas.all[:3], session_id, residents)
    [row] = await _db("SELECT starts_at, ends_at FROM sessions WHERE session_id = $1", session_id)
    starts, ends = row["starts_at"], row["ends_at"]

    async def grow() -> None:
        for capacity in range(3, 11):
            await publish(
                SessionChanged(
                    session_id=session_id, course_id=course_id, venue_id="v-test", community_id="pinghu",
                    starts_at=starts, ends_at=ends, capacity=capacity,
                )
            )  # fmt: skip
            await asyncio.sleep(0.3)  # a steady flow across the rebalances

    flow = asyncio.create_task(grow())
    try:
        async with extra_instances("enrolment", 1, wait_rebalanced=False) as group:
            await group.wait_rebalanced()
            await group.instances[0].stop()
            await group.wait_rebalanced()
        await flow
    finally:
        flow.cancel()

    async def settled() -> dict | None:
        summary = await _summary(replicas.all[0], session_id)
        return summary if summary["capacity"] == 10 and summary["confirmed"] == 10 else None

    summary = await eventually(settled, timeout_s=30)
    assert summary["waitlisted"] == 2
    rows = await _db("SELECT status, count(*) AS n FROM enrolments WHERE session_id = $1 GROUP BY status", session_id)
    assert {r["status"]: r["n"] for r in rows} == {"confirmed": 10, "waitlisted": 2}
    records = await read_topic(
        topics.ENROLMENTS.name,
        until=lambda rs: sum(k == "promoted" for k, _ in _facts(rs, session_id)) >= 8,
        timeout_s=30,
    )
    promotions = {fact: ids for fact, ids in _facts(records, session_id).items() if fact[0] == "promoted"}
    assert len(promotions) == 8 and all(len(ids) == 1 for ids in promotions.values()), promotions
