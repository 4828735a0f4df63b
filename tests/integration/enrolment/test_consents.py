"""Consent per purpose of the street's privacy notice (PIPL Art. 14-15, 17): the notice is public;
a registration records what the form agreed to under the notice's version and who recorded it;
a resident agrees and withdraws per purpose, only to the current notice; `notifications` is the
resident's `consent` flag; every decision stays, announced on enrolment.residents; hostile and
stale requests get 4xx naming the field."""

from __future__ import annotations

import pytest

from tests.integration.enrolment.helpers import events_of, register
from tests.support import client, read_topic

pytestmark = pytest.mark.integration


def fields(response) -> set[str]:
    return {".".join(str(p) for p in d["loc"]) for d in response.json()["detail"]}


def purposes(view: dict) -> dict[str, bool]:
    return {p["purpose"]: p["granted"] for p in view["purposes"]}


async def test_the_notice_is_public_and_declares_every_purpose_in_both_languages():
    async with client("enrolment", role=None) as anyone:
        r = await anyone.get("/v1/privacy-notice")
    assert r.status_code == 200, r.text
    notice = r.json()
    assert notice["version"] and notice["published"]
    assert set(notice["purposes"]) == {"learning_record", "notifications", "surveys"}
    for texts in notice["purposes"].values():
        assert texts["zh-CN"] and texts["en"]


async def test_registration_records_the_forms_purposes_under_the_notice_and_who_recorded_them():
    async with client("enrolment", "operator", "desk-7") as http:
        version = (await http.get("/v1/privacy-notice")).json()["version"]
        resident = await register(http, phone="+86 13800000071", consent=True, consents=["surveys"])
        rid = resident["resident_id"]
        r = await http.get(f"/v1/residents/{rid}/consents")
    assert r.status_code == 200, r.text
    view = r.json()
    assert purposes(view) == {"learning_record": False, "notifications": True, "surveys": True}
    assert {(d["purpose"], d["notice_version"], d["recorded_by"]) for d in view["history"]} == {
        ("notifications", version, "operator:desk-7"),
        ("surveys", version, "operator:desk-7"),
    }
    records = await read_topic("enrolment.residents", until=lambda rs: bool(events_of(rs, rid, "resident_id", rid)))
    announced = [body for kind, body in events_of(records, rid, "resident_id", rid) if kind == "consents_changed"]
    assert announced and announced[-1]["purposes"] == ["notifications", "surveys"]
    assert announced[-1]["notice_version"] == version


async def test_a_resident_agrees_and_withdraws_and_every_decision_stays():
    async with client("enrolment") as http:
        rid = (await register(http, phone="+86 13800000072"))["resident_id"]
        version = (await http.get("/v1/privacy-notice")).json()["version"]
    async with client("enrolment", role="resident", subject=rid) as me:
        r = await me.put(f"/v1/residents/{rid}/consents/learning_record", json={"notice_version": version})
        assert r.status_code == 200, r.text
        r = await me.put(f"/v1/residents/{rid}/consents/notifications", json={"notice_version": version})
        assert r.status_code == 200, r.text
        assert (await me.get(f"/v1/residents/{rid}")).json()["consent"] is True  # what notify holds
        r = await me.delete(f"/v1/residents/{rid}/consents/notifications")
        assert r.status_code == 200, r.text
        view = r.json()
        assert (await me.get(f"/v1/residents/{rid}")).json()["consent"] is False
        # PATCH of the flag is the same decision, recorded too
        r = await me.patch(f"/v1/residents/{rid}", json={"consent": True})
        assert r.status_code == 200, r.text
        final = (await me.get(f"/v1/residents/{rid}/consents")).json()
    assert purposes(view) == {"learning_record": True, "notifications": False, "surveys": False}
    assert [(d["purpose"], d["granted"], d["recorded_by"]) for d in final["history"]] == [
        ("learning_record", True, "resident"),
        ("notifications", True, "resident"),
        ("notifications", False, "resident"),
        ("notifications", True, "resident"),
    ]
    assert purposes(final)["notifications"] is True
    contacts = await read_topic("enrolment.contacts", until=lambda rs: len(events_of(rs, rid, "resident_id", rid)) >= 4)
    assert [body["consent"] for _, body in events_of(contacts, rid, "resident_id", rid)] == [False, True, False, True]


async def test_stale_unknown_and_hostile_decisions_are_refused_naming_the_field():
    async with client("enrolment") as http:
        rid = (await register(http))["resident_id"]  # no phone: notifications cannot reach them
        version = (await http.get("/v1/privacy-notice")).json()["version"]
        other = (await register(http))["resident_id"]
    async with client("enrolment", role="resident", subject=rid) as me:
        r = await me.put(f"/v1/residents/{rid}/consents/surveys", json={"notice_version": "2019-old"})
        assert r.status_code == 409 and fields(r) == {"body.notice_version"}, r.text
        assert version in r.json()["detail"][0]["msg"]
        r = await me.put(f"/v1/residents/{rid}/consents/marketing", json={"notice_version": version})
        assert r.status_code == 422 and "purpose" in " ".join(fields(r)), r.text
        r = await me.put(f"/v1/residents/{rid}/consents/notifications", json={"notice_version": version})
        assert r.status_code == 422 and fields(r) == {"body.purpose"}, r.text
        for body in ({}, {"notice_version": ""}, {"notice_version": version, "extra": 1}, {"notice_version": 7}):
            r = await me.put(f"/v1/residents/{rid}/consents/surveys", json=body)
            assert r.status_code == 422, (body, r.text)
        r = await me.put(f"/v1/residents/{other}/consents/surveys", json={"notice_version": version})
        assert r.status_code == 403, r.text
        r = await me.get(f"/v1/residents/{other}/consents")
        assert r.status_code == 403, r.text
        assert purposes((await me.get(f"/v1/residents/{rid}/consents")).json()) == dict.fromkeys(
            ("learning_record", "notifications", "surveys"), False
        )
    async with client("enrolment") as http:
        r = await http.post("/v1/residents", json={"community_id": "pinghu", "audience_group": "adult",
                                                   "consents": ["surveys", "marketing"]})  # fmt: skip
        assert r.status_code == 422 and "body.consents.1" in fields(r), r.text
