"""Honours a street awarded before it ran learnstreet (its paper records): an operator records a
past year's resident honour with the decision it cites; it is awarded at once, the resident's
Open Badges credential is issued and verifies, and revoking it makes the credential fail as
revoked. This year's honours and strangers are refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.enrolment.helpers import LEARNER, register
from tests.support import client, eventually, service_url, unique

pytestmark = pytest.mark.integration

LAST_YEAR = str(datetime.now(UTC).year - 1)  # the street's calendar: past for ~all but New Year's Eve UTC+8


def fields(response) -> set[str]:
    return {".".join(str(p) for p in d["loc"]) for d in response.json()["detail"]}


def past_award(rid: str, **changes) -> dict:
    return {"kind": "learning_star", "recipient_id": rid, "period": LAST_YEAR, "reason": "86 hours of learning",
            "decision_ref": "平湖街〔2025〕12号", **changes}  # fmt: skip


async def _known_to_scoring(rid: str) -> bool | None:
    async with client("scoring") as op:
        r = await op.get(f"/v1/residents/{rid}/data-export")
        return (r.status_code == 200 and bool(r.json()["tables"].get("residents"))) or None


async def test_a_past_award_is_awarded_at_once_and_its_credential_verifies_until_revoked():
    async with client("enrolment") as enr:
        rid = (await register(enr, community_id="xinnan", **LEARNER))["resident_id"]  # credentials need it
    await eventually(lambda: _known_to_scoring(rid), timeout_s=60)
    async with client("scoring", "operator", "records-desk") as op:
        r = await op.post("/v1/honours/past-awards", json=past_award(rid))
        assert r.status_code == 201, r.text
        honour = r.json()
        assert (honour["state"], honour["period"], honour["community_id"]) == ("awarded", LAST_YEAR, "xinnan")
        again = await op.post("/v1/honours/past-awards", json=past_award(rid))
        assert again.status_code == 409 and fields(again) == {"body.recipient_id"}, again.text
        steps = (await op.get(f"/v1/honours/{honour['honour_id']}")).json()["steps"]
        awarded = next(s for s in steps if s["step"] == "awarded")
        assert awarded["detail"] == {"selection": "past_record", "decision_ref": "平湖街〔2025〕12号"}
        assert awarded["acted_by"] == "records-desk"

    async with client("enrolment", "resident", rid) as own:

        async def issued():
            r = await own.get(f"/v1/residents/{rid}/credentials/{honour['honour_id']}")
            return r.text if r.status_code == 200 else None

        credential = await eventually(issued, timeout_s=60)
    async with httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10) as anyone:

        async def verdict() -> dict:
            r = await anyone.post("/v1/credentials/verify", json={"credential": credential})
            assert r.status_code == 200, r.text
            return r.json()

        assert (await verdict())["valid"] is True
        async with client("scoring") as op:
            r = await op.post(f"/v1/honours/{honour['honour_id']}/revoke", json={"reason": "record was wrong"})
            assert r.status_code == 200, r.text

        async def revoked():
            found = await verdict()
            return found if found["reason"] == "revoked" else None

        assert (await eventually(revoked, timeout_s=60))["valid"] is False


async def test_this_years_honours_strangers_and_other_roles_are_refused():
    async with client("enrolment") as enr:
        rid = (await register(enr, community_id="xinnan"))["resident_id"]
    await eventually(lambda: _known_to_scoring(rid), timeout_s=60)
    this_year = str(datetime.now(UTC).year + 1)  # never past, whatever the hour
    async with client("scoring") as op:
        r = await op.post("/v1/honours/past-awards", json=past_award(rid, period=this_year))
        assert r.status_code == 422 and fields(r) == {"body.period"}, r.text
        for ancient in ("0001", "1999"):  # before the street's records begin (periods.first)
            r = await op.post("/v1/honours/past-awards", json=past_award(rid, period=ancient))
            assert r.status_code == 422 and fields(r) == {"body.period"}, (ancient, r.text)
            assert "2010" in r.json()["detail"][0]["msg"], r.text
        r = await op.post("/v1/honours/past-awards", json=past_award(unique("nobody")))
        assert r.status_code == 422 and fields(r) == {"body.recipient_id"}, r.text
        for hostile in ({"kind": "most_beautiful_family"}, {"period": "25"}, {"decision_ref": ""}, {"extra": 1},
                        {"recipient_id": "a b"}, {"reason": "x" * 2001}):  # fmt: skip
            r = await op.post("/v1/honours/past-awards", json=past_award(rid, **hostile))
            assert r.status_code == 422, (hostile, r.text)
    for role in ("community_worker", "resident", "assessor"):
        async with client("scoring", role, community_id="xinnan" if role == "community_worker" else None) as who:
            r = await who.post("/v1/honours/past-awards", json=past_award(rid))
            assert r.status_code == 403, (role, r.text)
