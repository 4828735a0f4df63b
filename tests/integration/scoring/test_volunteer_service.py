"""Volunteer service hours on the real stack (issue 14: "volunteer service hours are recorded
separately ... and feed Excellent Volunteer"): a volunteer records service at a venue, a coordinator
of the venue's community confirms it (another community's worker may not), only confirmed hours count,
towards the Excellent Volunteer rule of the indicator file; impossible records are refused with the
field and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.scoring.domain.street import local_day
from shared.events.catalogue import VenueRegistered
from shared.events.envelope import envelop
from shared.events.topics import HONOURS
from tests.integration.scoring.events import resident, send
from tests.support import client, eventually, headers_of, producer, read_topic, unique

pytestmark = pytest.mark.integration


def _refusal(r: httpx.Response, status: int, field: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    (detail,) = r.json()["detail"]
    assert detail["loc"][-1] == field, detail
    return detail["msg"]


async def test_confirmed_service_counts_unconfirmed_does_not_and_only_the_venue_community_confirms():
    run = unique("vol")
    served, waiting, venue = f"{run}-served", f"{run}-waiting", f"{run}-venue"
    # The service clock is the real one here (no shifted clock in this module): days before today.
    today = local_day(datetime.now(UTC))
    days = [today - timedelta(days=n) for n in (1, 2)]
    if days[-1].year != today.year:  # the first two days of a year: serve within it
        days = [today, today]
    enrolment, activities = await producer("enrolment"), await producer("activities")
    try:
        await send(enrolment, resident(served, "hehua", volunteer=True), resident(waiting, "hehua", volunteer=True))
        await send(activities, envelop(VenueRegistered(
            venue_id=venue, community_id="hehua", name_zh="荷坳社区书屋", name_en="Hehua reading room",
            venue_type="library", capacity=30), source="learnstreet/activities"))  # fmt: skip
    finally:
        await enrolment.stop()
        await activities.stop()

    async with client("scoring", "resident", subject=served) as me, \
            client("scoring", "resident", subject=waiting) as them, \
            client("scoring", "operator", subject=f"{run}-op") as op, \
            client("scoring", "community_worker", subject="ws-hehua", community_id="hehua") as ws, \
            client("scoring", "community_worker", subject="ws-xinmu", community_id="xinmu") as other_ws:  # fmt: skip
        first = {"venue_id": venue, "day": days[0].isoformat(), "hours": 20, "what": "书屋值守与图书整理"}

        async def recorded() -> dict | None:  # 422 until scoring has read the volunteer and the venue
            r = await me.post("/v1/volunteer-service", json=first)
            return r.json() if r.status_code == 201 else None

        s1 = await eventually(recorded, timeout_s=30, every_s=0.3)
        assert (s1["volunteer_id"], s1["community_id"], s1["state"], s1["recorded_by"]) == (
            served, "hehua", "recorded", served)  # fmt: skip
        second_day = {**first, "day": days[1].isoformat()} if days[0] != days[1] else {**first, "hours": 4}
        r = await op.post("/v1/volunteer-service", json={**second_day, "volunteer_id": served})
        assert r.status_code == 201, r.text
        s2 = r.json()

        # Adversarial records: refused with the field and the reason, nothing stored.
        _refusal(await me.post("/v1/volunteer-service", json={**first, "hours": -2}), 422, "hours")
        assert "24 hours, not 25" in _refusal(await me.post("/v1/volunteer-service", json={**first, "hours": 25}),
                                              422, "hours")  # fmt: skip
        more = {**first, "hours": 5}  # 20 already on that day
        assert "already recorded" in _refusal(await me.post("/v1/volunteer-service", json=more), 422, "hours")
        future = {**first, "day": (today + timedelta(days=1)).isoformat()}
        assert "future" in _refusal(await me.post("/v1/volunteer-service", json=future), 422, "day")
        _refusal(await me.post("/v1/volunteer-service", json={**first, "venue_id": f"{run}-nowhere"}), 422, "venue_id")
        at_event = {**first, "venue_id": None, "session_id": f"{run}-no-session"}
        _refusal(await me.post("/v1/volunteer-service", json=at_event), 422, "session_id")
        _refusal(await op.post("/v1/volunteer-service", json={**first, "volunteer_id": f"{run}-nobody"}), 422,
                 "volunteer_id")  # fmt: skip
        both = {**first, "session_id": "s-1"}
        assert (await me.post("/v1/volunteer-service", json=both)).status_code == 422
        # A volunteer records their own service only.
        assert (await me.post("/v1/volunteer-service", json={**first, "volunteer_id": waiting})).status_code == 403

        # The other volunteer's 40 hours stay unconfirmed.
        for d in days if days[0] != days[1] else [today]:
            r = await them.post("/v1/volunteer-service", json={**first, "day": d.isoformat(),
                                                                "hours": 20 if days[0] != days[1] else 24})  # fmt: skip
            assert r.status_code == 201, r.text

        # Coordinators: another community's worker may not confirm; the venue's community worker does.
        url = f"/v1/volunteer-service/{s1['service_id']}/decision"
        assert (await other_ws.post(url, json={"decision": "confirmed"})).status_code == 403
        assert (await me.post(url, json={"decision": "confirmed"})).status_code == 403
        r = await ws.post(url, json={"decision": "confirmed"})
        assert r.status_code == 200 and r.json()["state"] == "confirmed", r.text
        _refusal(await ws.post(url, json={"decision": "rejected", "reason": "late"}), 409, "state")
        r = await op.post(f"/v1/volunteer-service/{s2['service_id']}/decision", json={"decision": "confirmed"})
        assert r.status_code == 200, r.text

        listed = (await ws.get("/v1/volunteer-service", params={"state": "recorded"})).json()["items"]
        assert {s["volunteer_id"] for s in listed if s["venue_id"] == venue} == {waiting}
        assert (await other_ws.get("/v1/volunteer-service", params={"community_id": "hehua"})).status_code == 403
        assert (await me.get("/v1/volunteer-service", params={"volunteer_id": waiting})).status_code == 403

        mine = (await me.get(f"/v1/volunteers/{served}/service-hours")).json()
        theirs = (await op.get(f"/v1/volunteers/{waiting}/service-hours")).json()
        assert (mine["counted"], mine["awaiting_confirmation"]) == (s1["hours"] + s2["hours"], 0)
        assert (theirs["counted"], theirs["awaiting_confirmation"]) == (0, 40 if days[0] != days[1] else 24)
        assert (await me.get(f"/v1/volunteers/{waiting}/service-hours")).status_code == 403

        # Excellent Volunteer (min_service_hours 40, either): the confirmed 40 hours make a candidate,
        # the unconfirmed ones none. Both were recorded before the rule pass that nominated the first.
        if s1["hours"] + s2["hours"] >= 40:

            async def candidate() -> list | None:
                r = await op.get("/v1/honours", params={"state": "all", "kind": "excellent_volunteer",
                                                        "resident_id": served})  # fmt: skip
                return r.json()["items"] or None

            (h,) = await eventually(candidate, timeout_s=30, every_s=0.5)
            assert h["state"] == "nominated" and "40.0 confirmed volunteer service hours" in h["reason"], h
            r = await op.get("/v1/honours", params={"state": "all", "kind": "excellent_volunteer",
                                                    "resident_id": waiting})  # fmt: skip
            assert r.json()["items"] == []

    key = s1["service_id"].encode()

    def decided(rs) -> bool:
        return any(r.key == key and headers_of(r)["ce_type"].endswith("service_confirmed.v1") for r in rs)

    records = await read_topic(HONOURS.name, until=decided, timeout_s=30)
    assert [headers_of(r)["ce_type"].split(".")[-2] for r in records if r.key == key] == [
        "service_recorded", "service_confirmed"]  # fmt: skip
