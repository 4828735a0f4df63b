"""401/403/404/409/422 answers of the enrolment API, each with the field and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.enrolment.helpers import register, register_many, schedule
from tests.support import client, unique

pytestmark = pytest.mark.integration


def _fields(response) -> set[tuple]:
    return {tuple(d["loc"]) for d in response.json()["detail"]}


async def test_401_without_or_with_a_bad_token():
    async with client("enrolment", role=None) as http:
        assert (await http.post("/v1/residents", json={})).status_code == 401
        assert (await http.get("/v1/residents/r-x")).status_code == 401
        bad = await http.delete("/v1/enrolments/e-x", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401


async def test_403_for_other_residents_data_and_wrong_roles():
    _, session_id = await schedule(3)
    me, other = await register_many(2)
    async with client("enrolment") as http:
        theirs = (await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": other})).json()
    async with client("enrolment", "resident", me) as own:
        assert (await own.get(f"/v1/residents/{me}")).status_code == 200
        assert (await own.get(f"/v1/residents/{other}")).status_code == 403
        assert (await own.get(f"/v1/residents/{other}/enrolments")).status_code == 403
        assert (await own.patch(f"/v1/residents/{other}", json={"phone": "13800000000"})).status_code == 403
        assert (await own.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": other})).status_code == 403
        assert (await own.delete(f"/v1/enrolments/{theirs['enrolment_id']}")).status_code == 403
        assert (await own.get(f"/v1/enrolments/{theirs['enrolment_id']}")).status_code == 403
        assert (await own.post("/v1/residents", json={})).status_code == 403  # operators register
        assert (await own.get(f"/v1/sessions/{session_id}")).status_code == 403
        moved = await own.patch(f"/v1/residents/{me}", json={"community_id": "xinnan"})
        assert moved.status_code == 403 and ("body", "community_id") in _fields(moved)
        mine = await own.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": me})
        assert mine.status_code == 201, mine.text
    async with client("enrolment", "kiosk") as kiosk:
        assert (await kiosk.delete(f"/v1/enrolments/{theirs['enrolment_id']}")).status_code == 403


async def test_404_unknown_session_resident_and_enrolment():
    _, session_id = await schedule(3)
    (resident,) = await register_many(1)
    async with client("enrolment") as http:
        unknown = await http.post(f"/v1/sessions/{unique('nosuch')}/enrolments", json={"resident_id": resident})
        assert unknown.status_code == 404
        assert "not yet scheduled" in unknown.text and ("body", "session_id") in _fields(unknown)
        nobody = await http.post(f"/v1/sessions/{session_id}/enrolments", json={"resident_id": unique("ghost")})
        assert nobody.status_code == 404 and ("body", "resident_id") in _fields(nobody)
        assert (await http.get(f"/v1/residents/{unique('ghost')}")).status_code == 404
        assert (await http.patch(f"/v1/residents/{unique('ghost')}", json={"volunteer": True})).status_code == 404
        assert (await http.delete(f"/v1/enrolments/{unique('e')}")).status_code == 404
        assert (await http.get(f"/v1/sessions/{unique('nosuch')}")).status_code == 404


async def test_409_double_enrolment_duplicate_resident_and_cancelling_twice():
    _, session_id = await schedule(1)
    async with client("enrolment") as http:
        resident = await register(http)
        again = await http.post("/v1/residents", json={**resident, "resident_id": resident["resident_id"]})
        assert again.status_code == 409 and ("body", "resident_id") in _fields(again)
        body = {"resident_id": resident["resident_id"]}
        first = await http.post(f"/v1/sessions/{session_id}/enrolments", json=body)
        assert first.status_code == 201
        double = await http.post(f"/v1/sessions/{session_id}/enrolments", json=body)
        assert double.status_code == 409 and "already enrolled" in double.text
        assert (await http.delete(f"/v1/enrolments/{first.json()['enrolment_id']}")).status_code == 200
        twice = await http.delete(f"/v1/enrolments/{first.json()['enrolment_id']}")
        assert twice.status_code == 409 and "already cancelled" in twice.text
        # After a cancellation the resident may enrol again (and takes the freed seat).
        back = await http.post(f"/v1/sessions/{session_id}/enrolments", json=body)
        assert back.status_code == 201 and back.json()["status"] == "confirmed"


async def test_409_audience_and_elderly_priority_window():
    _, kids_session = await schedule(5, audiences=["child", "adolescent"])
    _, elderly_session = await schedule(5, elderly_priority_until=datetime.now(UTC) + timedelta(days=1))
    async with client("enrolment") as http:
        adult = (await register(http))["resident_id"]
        elder = (await register(http, audience_group="elderly"))["resident_id"]
        child = (await register(http, audience_group="child"))["resident_id"]
        refused = await http.post(f"/v1/sessions/{kids_session}/enrolments", json={"resident_id": adult})
        assert refused.status_code == 409 and "adolescent" in refused.text
        ok = await http.post(f"/v1/sessions/{kids_session}/enrolments", json={"resident_id": child})
        assert ok.status_code == 201
        early = await http.post(f"/v1/sessions/{elderly_session}/enrolments", json={"resident_id": adult})
        assert early.status_code == 409 and "only elderly residents" in early.text
        assert ("body", "resident_id") in _fields(early)
        priority = await http.post(f"/v1/sessions/{elderly_session}/enrolments", json={"resident_id": elder})
        assert priority.status_code == 201


async def test_422_bad_fields_name_the_field():
    async with client("enrolment") as http:
        bad = await http.post(
            "/v1/residents",
            json={"community_id": "atlantis", "audience_group": "martian", "phone": "call me", "language": "fr"},
        )
        assert bad.status_code == 422
        assert {("body", "audience_group"), ("body", "phone"), ("body", "language")} <= _fields(bad)
        unknown_community = await http.post(
            "/v1/residents", json={"community_id": "atlantis", "audience_group": "adult"}
        )
        assert unknown_community.status_code == 422 and ("body", "community_id") in _fields(unknown_community)
        no_address = await http.post(
            "/v1/residents",
            json={"community_id": "pinghu", "audience_group": "adult", "consent": True, "preferred_channel": "email"},
        )
        assert no_address.status_code == 422 and "email" in no_address.text
        extra = await http.post(
            "/v1/residents", json={"community_id": "pinghu", "audience_group": "adult", "password": "x"}
        )
        assert extra.status_code == 422 and ("body", "password") in _fields(extra)
        resident = await register(http)
        null_group = await http.patch(f"/v1/residents/{resident['resident_id']}", json={"audience_group": None})
        assert null_group.status_code == 422 and ("body", "audience_group") in _fields(null_group)
        missing = await http.post("/v1/sessions/s-1/enrolments", json={})
        assert missing.status_code == 422 and ("body", "resident_id") in _fields(missing)
        bad_id = await http.post("/v1/sessions/s-1/enrolments", json={"resident_id": "a b/c"})
        assert bad_id.status_code == 422
        assert (await http.get("/v1/residents/x/enrolments?limit=0")).status_code == 422


async def test_resident_reads_and_updates_own_record():
    async with client("enrolment") as http:
        resident = await register(http, phone="13700000000", consent=True)
    rid = resident["resident_id"]
    async with client("enrolment", "resident", rid) as own:
        response = await own.patch(
            f"/v1/residents/{rid}", json={"email": "me@example.org", "language": "en", "opted_out_categories": ["x"]}
        )
        assert response.status_code == 200, response.text
        got = (await own.get(f"/v1/residents/{rid}")).json()
    assert (got["email"], got["language"], got["opted_out_categories"], got["phone"]) == (
        "me@example.org", "en", ["x"], "13700000000",
    )  # fmt: skip
