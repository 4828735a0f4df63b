"""Activities with several instances at once (issue 12): every instance decides a scan on what the
database holds, whichever instance wrote it or consumed the event that explains it.

Scans are keyed by resident, so 24 residents spread over the kiosk.checkins partitions and
therefore over the instances (each instance owns about half of them); a scan judged by the
instance that did not see the write is what each test catches. The kiosk.checkins, residents and
enrolments partitions are assigned independently, so "the other instance" is reached both ways.
"""

from __future__ import annotations

import os
from datetime import timedelta

import asyncpg
import pytest

from shared.events.catalogue import EnrolmentConfirmed
from tests.integration.activities.helpers import (
    Place,
    attendance,
    checkin,
    now,
    publish_events,
    register_residents,
    send_checkins,
)
from tests.integration.replicas import extra_instances
from tests.support import client, env, eventually, unique

pytestmark = pytest.mark.integration

RESIDENTS = 24
SETTLE_S = 30.0


async def make_place_via(http, *, capacity: int = 30, minutes: int = 90) -> Place:
    """A venue with a kiosk, a course and a session, written through the instance `http` talks to."""
    venue_id, kiosk_id, course_id, session_id = unique("v"), unique("k"), unique("c"), unique("s")
    starts_at = now() - timedelta(minutes=10)
    ends_at = starts_at + timedelta(minutes=minutes)
    r = await http.post(
        "/v1/venues",
        json={"venue_id": venue_id, "community_id": "xinnan", "name_zh": "新南社区学校", "name_en": "Xinnan school",
              "venue_type": "community_school", "capacity": 200, "kiosk_ids": [kiosk_id]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await http.post(
        "/v1/courses",
        json={"course_id": course_id, "title_zh": "急救", "title_en": "First aid", "theme": "health",
              "provider_kind": "doctor"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await http.post(
        f"/v1/courses/{course_id}/sessions",
        json={"session_id": session_id, "venue_id": venue_id, "starts_at": starts_at.isoformat(),
              "ends_at": ends_at.isoformat(), "capacity": capacity},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return Place(venue_id, kiosk_id, course_id, session_id, starts_at, ends_at)


async def db() -> asyncpg.Connection:
    return await asyncpg.connect(os.environ.get("ACTIVITIES_DATABASE_URL") or env()["ACTIVITIES_DATABASE_URL"])


async def residents_stored(resident_ids: list[str]) -> None:
    """Wait until the group applied the registrations (whichever instance consumed each)."""
    conn = await db()
    try:

        async def probe():
            n = await conn.fetchval("SELECT count(*) FROM residents WHERE resident_id = ANY($1)", resident_ids)
            return n == len(resident_ids)

        await eventually(probe, timeout_s=SETTLE_S)
    finally:
        await conn.close()


async def seats_stored(session_id: str, n: int) -> None:
    conn = await db()
    try:

        async def probe():
            got = await conn.fetchval(
                "SELECT count(*) FROM enrolment_seats WHERE session_id = $1 AND state = 'confirmed'", session_id
            )
            return got == n

        await eventually(probe, timeout_s=SETTLE_S)
    finally:
        await conn.close()


async def settled(checkin_ids: list[str]) -> dict[str, dict]:
    """Every check-in's outcome once none is pending (parked) any more; fails with what is left."""
    async with client("activities") as op:

        async def probe():
            found = {}
            for cid in checkin_ids:
                r = await op.get(f"/v1/checkins/{cid}")
                if r.status_code != 200 or r.json()["outcome"] == "pending":
                    return None
                found[cid] = r.json()
            return found

        try:
            return await eventually(probe, timeout_s=SETTLE_S, every_s=0.3)
        except AssertionError:
            left = {}
            for cid in checkin_ids:
                r = await op.get(f"/v1/checkins/{cid}")
                left[cid] = r.json() if r.status_code == 200 else r.status_code
            shown = {k: v if isinstance(v, dict) else {"outcome": v, "reason": ""} for k, v in left.items()}
            raise AssertionError(f"check-ins still unsettled: {summary(shown)!r}") from None


def summary(outcomes: dict[str, dict]) -> dict[tuple[str, str | None], int]:
    counts: dict[tuple[str, str | None], int] = {}
    for o in outcomes.values():
        key = (o["outcome"], o["reason"] or None)
        counts[key] = counts.get(key, 0) + 1
    return counts


async def scan_all(place: Place, residents: list[str], **extra) -> dict[str, dict]:
    scans = [checkin(place, r, now(), **extra) for r in residents]
    await send_checkins(*scans)
    return await settled([s["checkin_id"] for s in scans])


@pytest.mark.parametrize("extra", [0, 1, 2], ids=["1-instance", "2-instances", "3-instances"])
async def test_a_kiosk_and_session_added_through_any_instance_are_known_to_every_instance(extra):
    residents = [unique("r") for _ in range(RESIDENTS)]
    await register_residents(*residents)
    await residents_stored(residents)
    async with extra_instances("activities", count=extra) as group:
        # Written through the last instance: the others learn it only through the database.
        async with group.all[-1].client() as http:
            place = await make_place_via(http)
        outcomes = await scan_all(place, residents)
    assert summary(outcomes) == {("recorded", None): RESIDENTS}


async def test_a_resident_registered_on_the_other_instances_partition_is_known():
    async with client("activities") as op:
        place = await make_place_via(op)
    residents = [unique("r") for _ in range(RESIDENTS)]
    # A short grace on the new instance: a resident it does not know is rejected at once, as an
    # instance with the default grace does after ten minutes.
    async with extra_instances("activities", count=1, extra_env={"ACTIVITIES_PENDING_GRACE_S": "0"}):
        await register_residents(*residents)
        await residents_stored(residents)
        outcomes = await scan_all(place, residents)
    assert summary(outcomes) == {("recorded", None): RESIDENTS}


async def test_a_session_cancelled_through_the_other_instance_is_rejected_everywhere():
    residents = [unique("r") for _ in range(RESIDENTS)]
    await register_residents(*residents)
    await residents_stored(residents)
    async with client("activities") as op:
        place = await make_place_via(op)
    # The new instance loads the session (not cancelled) at start; it is cancelled afterwards.
    async with extra_instances("activities", count=1) as group:
        async with group.instances[0].client() as http:
            r = await http.post(f"/v1/sessions/{place.session_id}/cancel", json={"reason": "teacher ill"})
            assert r.status_code == 200, r.text
        outcomes = await scan_all(place, residents, session_id=place.session_id)
    assert summary(outcomes) == {("rejected", "session_cancelled"): RESIDENTS}


async def test_walk_in_seats_are_counted_once_across_instances():
    residents = [unique("r") for _ in range(RESIDENTS)]
    await register_residents(*residents)
    await residents_stored(residents)
    async with client("activities") as op:
        place = await make_place_via(op, capacity=3)
    async with extra_instances("activities", count=1):
        outcomes = await scan_all(place, residents)
        async with client("activities") as op:
            shown = (await op.get(f"/v1/sessions/{place.session_id}")).json()
    assert summary(outcomes) == {("recorded", None): 3, ("rejected", "no_seats"): RESIDENTS - 3}
    assert shown["walk_ins"] == 3


async def test_enrolments_learnt_by_the_other_instance_count_as_seats_and_not_as_walk_ins():
    enrolled = [unique("r") for _ in range(8)]
    walk_ins = [unique("r") for _ in range(16)]
    await register_residents(*enrolled, *walk_ins)
    await residents_stored([*enrolled, *walk_ins])
    async with client("activities") as op:
        place = await make_place_via(op, capacity=len(enrolled))
    async with extra_instances("activities", count=1):
        # Enrolments are keyed by session: one instance consumes them all.
        await publish_events(
            "enrolment",
            *(
                EnrolmentConfirmed(enrolment_id=unique("e"), session_id=place.session_id, course_id=place.course_id,
                                   resident_id=r, at=now())
                for r in enrolled
            ),
        )  # fmt: skip
        await seats_stored(place.session_id, len(enrolled))
        outcomes = await scan_all(place, [*enrolled, *walk_ins])
        flags = {r: (await attendance(r, place.session_id) or {}).get("walk_in") for r in enrolled}
    assert summary(outcomes) == {("recorded", None): len(enrolled), ("rejected", "no_seats"): len(walk_ins)}
    assert set(flags.values()) == {False}
