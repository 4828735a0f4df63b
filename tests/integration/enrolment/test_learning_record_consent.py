"""The `learning_record` purpose of the privacy notice against the real stack (issue 17, ADR 0019
amendment): without it, the resident's learning passport, certificate of learning and Open Badges
credentials are refused with 403 naming `consent`, to the resident and to operators alike, and no
credential is issued for an honour awarded meanwhile; the passport keeps being projected from the
events, so agreeing later shows the whole record (attendance from before the consent included)
and later honours are issued; withdrawing refuses again while a credential already issued keeps
verifying. The data export (right of access) and public verification are not affected."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from shared.events.catalogue import HonourAwarded
from shared.events.envelope import envelop
from tests.integration.enrolment.helpers import published, register_many
from tests.integration.scoring.events import attendance
from tests.support import client, eventually, service_url, unique

pytestmark = pytest.mark.integration

HELD = datetime(2026, 4, 7, 2, tzinfo=UTC)  # 10:00 in Shanghai


def _award(honour_id: str, resident_id: str):
    data = HonourAwarded(honour_id=honour_id, kind="learning_star", period="2026", recipient_kind="resident",
                         recipient_id=resident_id, community_id="pinghu")  # fmt: skip
    return envelop(data, source="learnstreet/scoring")


def _routes(rid: str, honour_id: str) -> list[tuple[str, dict]]:
    return [
        (f"/v1/residents/{rid}/passport", {}),
        (f"/v1/residents/{rid}/passport/certificate", {"year": 2026}),
        (f"/v1/residents/{rid}/passport/certificate", {"year": 2026, "format": "pdf", "lang": "en"}),
        (f"/v1/residents/{rid}/credentials/{honour_id}", {}),
    ]


def _assert_refused_for_consent(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text[:300])
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "consent"], detail
    assert "learning_record" in detail["msg"] and "学习档案" in detail["msg"], detail


async def _export(rid: str) -> dict:
    async with client("enrolment", "resident", rid) as own:
        r = await own.get(f"/v1/residents/{rid}/data-export")
    assert r.status_code == 200, r.text  # the right of access does not depend on the purpose
    return r.json()["tables"]


async def test_without_learning_record_the_passport_certificate_and_credentials_are_refused_until_agreed():
    [me] = await register_many(1)  # registered without purposes, as residents before the notice were
    run = unique("lr")
    first, later = f"{run}-h1", f"{run}-h2"
    await published("activities", attendance(me, course_id=f"{run}-c", minutes=90, at=HELD))
    await published("scoring", _award(first, me))

    # the projection goes on without the consent: the export (right of access) shows it arrived
    async def projected():
        tables = await _export(me)
        done = len(tables["passport_attendance"]) == 1 and {h["honour_id"] for h in tables["passport_honours"]}
        return tables if done == {first} else None

    await eventually(projected, timeout_s=30)
    for role, subject in (("resident", me), ("operator", "lr-desk")):
        async with client("enrolment", role, subject) as http:
            for path, params in _routes(me, first):
                _assert_refused_for_consent(await http.get(path, params=params))
    assert (await _export(me))["issued_credentials"] == []  # no credential was issued for the honour

    # the resident agrees under the current notice: the whole record shows, attendance from before too
    async with client("enrolment", "resident", me) as own:
        version = (await own.get("/v1/privacy-notice")).json()["version"]
        r = await own.put(f"/v1/residents/{me}/consents/learning_record", json={"notice_version": version})
        assert r.status_code == 200, r.text
        passport = await own.get(f"/v1/residents/{me}/passport")
        assert passport.status_code == 200, passport.text
        body = passport.json()
        assert [(a["minutes"], a["date"]) for a in body["attendance"]] == [(90, "2026-04-07")]
        assert [h["honour_id"] for h in body["honours"]] == [first]
        certificate = await own.get(f"/v1/residents/{me}/passport/certificate", params={"year": 2026})
        assert certificate.status_code == 200 and "学习证明" in certificate.text
        # a later honour is issued as a credential (and the earlier one, now that it may be)
        await published("scoring", _award(later, me))

        async def issued():
            r = await own.get(f"/v1/residents/{me}/credentials/{later}")
            return r.text if r.status_code == 200 else None

        token = await eventually(issued, timeout_s=30)
        assert (await own.get(f"/v1/residents/{me}/credentials/{first}")).status_code == 200

        # withdrawn: refused again, at once, for the resident and the desk
        r = await own.delete(f"/v1/residents/{me}/consents/learning_record")
        assert r.status_code == 200, r.text
        for path, params in _routes(me, later):
            _assert_refused_for_consent(await own.get(path, params=params))
    async with client("enrolment", "operator", "lr-desk") as desk:
        for path, params in _routes(me, later):
            _assert_refused_for_consent(await desk.get(path, params=params))

    # what the resident already holds stays valid, and verifying it needs no sign-in nor consent
    async with httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10) as anyone:
        verdict = await anyone.post("/v1/credentials/verify", json={"credential": token})
        assert verdict.status_code == 200 and verdict.json()["valid"] is True, verdict.text
        assert (await anyone.get("/v1/.well-known/jwks.json")).status_code == 200
    assert {c["honour_id"] for c in (await _export(me))["issued_credentials"]} == {first, later}


async def test_a_resident_registered_with_learning_record_reads_their_passport_at_once():
    [me] = await register_many(1, consents=["learning_record"])
    async with client("enrolment", "resident", me) as own:
        r = await own.get(f"/v1/residents/{me}/passport")
    assert r.status_code == 200, r.text
    assert r.json()["attendance"] == []
