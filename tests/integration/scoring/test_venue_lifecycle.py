"""Venues close and reopen (issue 14) through the activities API, on the running stack: a closed
venue takes no new session and no check-in of its sessions on closed days, and leaves the index's
venue and seat denominators (the values change as computed by hand); reopening brings it back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.activities.domain.model import street_day
from tests.integration.activities.helpers import (
    Tail,
    body,
    checkin,
    event_type,
    make_place,
    now,
    outcome,
    register_residents,
    send_checkins,
)
from tests.support import client, eventually, unique

pytestmark = pytest.mark.integration

COMMUNITY = "xinnan"  # make_place's
VENUES, SEATS = "conditions.venues_active", "conditions.venue_utilisation"
REJECTED = "learnstreet.activities.attendance.rejected.v1"


async def _leaves(http) -> dict[str, tuple[float, float]]:
    view = (await http.get(f"/v1/index/{COMMUNITY}")).json()
    leaves = {i["id"]: i for a in view["aspects"] for i in a["indicators"]}
    for leaf in (leaves[VENUES], leaves[SEATS]):  # every value is its numerator over its denominator
        assert leaf["value"] == (round(leaf["numerator"] / leaf["denominator"], 6) if leaf["denominator"] else 0)
    return {k: (leaves[k]["numerator"], leaves[k]["denominator"]) for k in (VENUES, SEATS)}


async def _until(http, expected: dict[str, tuple[float, float]]) -> None:
    async def probe():
        return await _leaves(http) == expected

    try:
        await eventually(probe, timeout_s=30)
    except AssertionError:
        assert await _leaves(http) == expected  # shows what differs


async def test_a_closed_venue_leaves_the_denominators_and_reopening_brings_it_back():
    async with client("scoring") as scoring, client("activities") as op:
        before = await _leaves(scoring)
        (v0, vn), (u0, un) = before[VENUES], before[SEATS]
        place = await make_place(capacity=3)  # held: it started 10 minutes ago
        resident, late_comer = unique("r"), unique("r")
        await register_residents(resident, late_comer)
        first = checkin(place, resident, now())
        await send_checkins(first)
        assert (await outcome(first["checkin_id"]))["outcome"] == "recorded"
        # One more venue, active; three more seats, one taken.
        opened = {VENUES: (v0 + 1, vn + 1), SEATS: (u0 + 1, un + 3)}
        await _until(scoring, opened)

        today = street_day(now())
        closing = {"closed_on": str(today - timedelta(days=1)), "reason": "漏水维修 leak repair"}
        r = await op.post(f"/v1/venues/{place.venue_id}/close", json=closing)
        assert r.status_code == 200, r.text
        assert r.json()["closed"] is True
        again = await op.post(f"/v1/venues/{place.venue_id}/close", json={"closed_on": str(today), "reason": "x"})
        assert again.status_code == 409 and "closed since" in again.text, again.text
        # Closed from yesterday: the venue, its session today, its seats and attendance leave the index.
        await _until(scoring, before)

        starts = now() + timedelta(days=2)
        refused = await op.post(
            f"/v1/courses/{place.course_id}/sessions",
            json={"venue_id": place.venue_id, "starts_at": starts.isoformat(),
                  "ends_at": (starts + timedelta(hours=1)).isoformat(), "capacity": 3},
        )  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert f"venue {place.venue_id} is closed from {today - timedelta(days=1)}" in refused.text

        scan = checkin(place, late_comer, now())
        async with Tail("activities.attendance") as tail:
            await send_checkins(scan)
            rejected = await tail.wait_for(lambda rec: rec.key == late_comer.encode() and event_type(rec) == REJECTED)
        assert body(rejected[0])["reason"] == "venue_closed"
        assert "is closed from" in body(rejected[0])["detail"]

        # A community worker of another community cannot reopen it; the venue's community's can.
        async with client("activities", "community_worker", community_id="pinghu") as other:
            r = await other.post(f"/v1/venues/{place.venue_id}/reopen", json={"reopened_on": str(today)})
            assert r.status_code == 404, r.text
        async with client("activities", "community_worker", community_id=COMMUNITY) as worker:
            r = await worker.post(f"/v1/venues/{place.venue_id}/reopen", json={"reopened_on": str(today)})
            assert r.status_code == 200 and r.json()["closed"] is False, r.text
        await _until(scoring, opened)
        closing = (await op.get(f"/v1/venues/{place.venue_id}/closing")).json()
        assert (closing["closed_on"], closing["reopened_on"]) == (str(today - timedelta(days=1)), str(today))
        accepted = await op.post(
            f"/v1/courses/{place.course_id}/sessions",
            json={"venue_id": place.venue_id, "starts_at": starts.isoformat(),
                  "ends_at": (starts + timedelta(hours=1)).isoformat(), "capacity": 3},
        )  # fmt: skip
        assert accepted.status_code == 201, accepted.text
