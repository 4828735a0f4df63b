"""Honour selection on the real stack (issue 14, "Honours: selection, not certification"): candidates
of a knowledge competition go through the community's review, the street's approval within its
quota and a public notice period (公示) with objections, and are awarded by the index leader's
periodic task when the notice period is over, through the running scoring service, Kafka and
PostgreSQL.

The running scoring service is restarted once for this module with its selection clock shifted by a
file (`SCORING_TEST_CLOCK_FILE`, services/scoring/adapters/shifted_clock.py), so the tests move it
past the seven days of the shipped indicator file; it is restarted without it at the end. A
competition's quota is per competition, so every run has fresh places however many ran before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.events.topics import HONOURS
from tests.integration.scoring.conftest import Clock
from tests.integration.scoring.events import scoring_db
from tests.support import client, eventually, headers_of, read_topic, unique

pytestmark = pytest.mark.integration
YEAR = str(datetime.now(UTC).astimezone().year)


def worker(community: str) -> httpx.AsyncClient:
    """A community workstation's client: role community_worker, scoped by its community_id claim."""
    return client("scoring", "community_worker", f"ws-{community}", community_id=community)


async def _nominate(op: httpx.AsyncClient, competition: str, residents: list[str], community: str) -> list[dict]:
    setup = {"competition_id": competition, "name_zh": "评选测试知识竞赛", "name_en": "selection test quiz",
             "rounds": 1, "places": len(residents)}  # fmt: skip
    assert (await op.post("/v1/competitions", json=setup)).status_code == 201
    body = {"period": YEAR, "round": 1, "results": [{"place": i + 1, "resident_id": r, "community_id": community}
                                                    for i, r in enumerate(residents)]}  # fmt: skip
    r = await op.post(f"/v1/competitions/{competition}/results", json=body)
    assert r.status_code == 201, r.text
    nominated = r.json()["nominated"]
    assert [(h["state"], h["place"], h["new"]) for h in nominated] == [
        ("nominated", i + 1, True) for i in range(len(residents))
    ]
    return nominated


async def _state(op: httpx.AsyncClient, honour_id: str) -> str:
    r = await op.get(f"/v1/honours/{honour_id}")
    assert r.status_code == 200, r.text
    return r.json()["state"]


def _refusal(r: httpx.Response, status: int, field: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    (detail,) = r.json()["detail"]
    assert detail["loc"][-1] == field, detail
    return detail["msg"]


async def test_a_candidate_is_awarded_through_review_quota_notice_and_a_dismissed_objection(clock: Clock):
    run = unique("sel")
    competition = f"{run}-quiz"
    residents = [f"{run}-r{i}" for i in range(5)]
    community = "hehua"
    neighbour_client = client("scoring", "resident", subject=f"{run}-neighbour")
    async with client("scoring", "operator", subject=f"{run}-street") as op, worker(community) as ws, \
            worker("xinmu") as other_ws, neighbour_client as neighbour:  # fmt: skip
        h = [x["honour_id"] for x in await _nominate(op, competition, residents, community)]
        # Candidates are not honours: the default list (awarded, revoked) does not hold them.
        listed = (await op.get("/v1/honours", params={"kind": f"knowledge_competition:{competition}"})).json()
        assert listed["items"] == []

        # The workstation sees its candidates; another community's workstation may not act on them.
        waiting = (await ws.get("/v1/honour-candidates", params={"period": YEAR, "limit": 1000})).json()["items"]
        assert set(h) <= {x["honour_id"] for x in waiting}
        assert (await other_ws.get("/v1/honour-candidates", params={"community_id": community})).status_code == 403
        r = await other_ws.post(f"/v1/honours/{h[0]}/community-review", json={"decision": "approved"})
        assert r.status_code == 403, r.text
        _refusal(await ws.post(f"/v1/honours/{h[4]}/community-review", json={"decision": "rejected"}), 422, "reason")
        r = await ws.post(f"/v1/honours/{h[4]}/community-review",
                          json={"decision": "rejected", "reason": "not a resident of 荷坳"})  # fmt: skip
        assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
        for hid in h[:4]:
            r = await ws.post(f"/v1/honours/{hid}/community-review", json={"decision": "approved"})
            assert r.status_code == 200 and r.json()["state"] == "community_approved", r.text
        _refusal(await ws.post(f"/v1/honours/{h[0]}/community-review", json={"decision": "approved"}), 409, "state")

        # The street: a rejected candidate cannot be approved; the quota (3 a competition) is named when full.
        msg = _refusal(await op.post(f"/v1/honours/{h[4]}/street-review", json={"decision": "approved"}), 409, "state")
        assert "rejected" in msg
        approved_at = datetime.now(UTC)
        for hid in h[:3]:
            r = await op.post(f"/v1/honours/{hid}/street-review", json={"decision": "approved"})
            assert r.status_code == 200 and r.json()["state"] == "in_notice", r.text
        notice_ends = datetime.fromisoformat(r.json()["notice_ends_at"])
        assert timedelta(days=7) <= notice_ends - approved_at < timedelta(days=7, minutes=5)
        msg = _refusal(await op.post(f"/v1/honours/{h[3]}/street-review", json={"decision": "approved"}), 409, "quota")
        assert "quota knowledge_competition for community hehua is 3" in msg

        # 公示: a resident sees the notice without the candidate's card number and objects, with a reason.
        notices = (await neighbour.get("/v1/honours", params={"state": "in_notice", "community_id": community,
                                                              "limit": 1000})).json()["items"]  # fmt: skip
        shown = next(x for x in notices if x["honour_id"] == h[0])
        assert shown["recipient_id"] is None and shown["resident_ids"] == [] and shown["place"] == 1
        _refusal(await neighbour.post(f"/v1/honours/{h[0]}/objections", json={"reason": ""}), 422, "reason")
        r = await neighbour.post(f"/v1/honours/{h[0]}/objections", json={"reason": "she copied the answers"})
        assert r.status_code == 201, r.text
        objection = r.json()["objection_id"]
        _refusal(await op.post(f"/v1/honours/{h[0]}/revoke", json={"reason": "x"}), 409, "state")

        # The notice period ends: the leader awards the candidates with no objection open, not the other.
        clock.advance(8)

        async def awarded_without_objection() -> bool:
            return [await _state(op, hid) for hid in h[:3]] == ["in_notice", "awarded", "awarded"]

        # h[0]'s notice ended first: the pass that awarded h[1] and h[2] saw it and kept it in notice.
        assert await eventually(awarded_without_objection, timeout_s=40, every_s=0.5)
        _refusal(await neighbour.post(f"/v1/honours/{h[0]}/objections", json={"reason": "late"}), 409, "state")

        # The operator dismisses the objection: the honour is awarded at the leader's next look.
        dismissed = {"outcome": "dismissed", "reason": "the invigilator's report shows no copying"}
        r = await op.post(f"/v1/honours/{h[0]}/objections/{objection}/resolve", json=dismissed)
        assert r.status_code == 200 and r.json()["state"] == "in_notice", r.text
        r = await op.post(f"/v1/honours/{h[0]}/objections/{objection}/resolve",
                          json={"outcome": "upheld", "reason": "again"})  # fmt: skip
        _refusal(r, 409, "objection_id")

        async def awarded() -> bool:
            return await _state(op, h[0]) == "awarded"

        assert await eventually(awarded, timeout_s=40, every_s=0.5)

        # The selection record: every step with who and when.
        record = (await op.get(f"/v1/honours/{h[0]}")).json()
        steps = [(s["step"], s["acted_by"], s["actor_role"]) for s in record["steps"]]
        assert steps == [
            ("nominated", f"{run}-street", "operator"),
            ("community_approved", f"ws-{community}", "community_worker"),
            ("street_approved", f"{run}-street", "operator"),
            ("objection_lodged", f"{run}-neighbour", "resident"),
            ("objection_dismissed", f"{run}-street", "operator"),
            ("awarded", "notice", "system"),
        ]
        assert all(s["at"] for s in record["steps"]) and record["awarded_at"] is not None
        assert [(o["outcome"], o["lodged_by"]) for o in record["objections"]] == [("dismissed", f"{run}-neighbour")]
        # the neighbour sees the award's record now only if it is theirs: it is not
        assert (await neighbour.get(f"/v1/honours/{h[0]}")).status_code == 403

        # Revocation keeps working after the award.
        r = await op.post(f"/v1/honours/{h[0]}/revoke", json={"reason": "answers found copied after all"})
        assert r.status_code == 200, r.text
        assert await _state(op, h[0]) == "revoked"
        _refusal(await op.post(f"/v1/honours/{h[0]}/revoke", json={"reason": "again"}), 409, "honour_id")

    # Every step is an event on scoring.honours, in order, keyed by the honour.
    key = h[0].encode()
    records = await read_topic(
        HONOURS.name, until=lambda rs: any(r.key == key and b"revoked" in headers_of(r)["ce_type"].encode()
                                           for r in rs), timeout_s=30,
    )  # fmt: skip
    types = [headers_of(r)["ce_type"].split(".")[-2] for r in records if r.key == key]
    assert types == ["nominated", "reviewed", "approved", "objection_lodged", "objection_resolved", "awarded",
                     "revoked"]  # fmt: skip

    # The index counts honours awarded, never candidates: its count for the community is the database's.
    db = await scoring_db()
    try:

        async def index_counts_awarded_only():
            async with client("scoring", "operator") as op:
                view = (await op.get(f"/v1/index/{community}")).json()
            leaf = next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == "learning_publicity.honours")
            awarded = await db.fetchval("SELECT count(*) FROM honours WHERE state = 'awarded' AND period = $1 "
                                        "AND community_id = $2", YEAR, community)  # fmt: skip
            return leaf["numerator"] == awarded or None

        assert await eventually(index_counts_awarded_only, timeout_s=30, every_s=0.5)
        candidates = await db.fetchval("SELECT count(*) FROM honours WHERE state <> 'awarded' AND kind = $1",
                                       f"knowledge_competition:{competition}")  # fmt: skip
        assert candidates == 3  # h[0] revoked, h[3] approved by its community, h[4] rejected: none counted
    finally:
        await db.close()


async def test_an_upheld_objection_withdraws_the_candidate(clock: Clock):
    run = unique("sel")
    competition = f"{run}-quiz"
    residents = [f"{run}-r{i}" for i in range(2)]
    async with client("scoring", "operator", subject=f"{run}-street") as op, worker("xinmu") as ws, \
            client("scoring", "assessor", subject=f"{run}-expert") as expert:  # fmt: skip
        h = [x["honour_id"] for x in await _nominate(op, competition, residents, "xinmu")]
        for hid in h:
            assert (
                await ws.post(f"/v1/honours/{hid}/community-review", json={"decision": "approved"})
            ).status_code == 200
            assert (await op.post(f"/v1/honours/{hid}/street-review", json={"decision": "approved"})).status_code == 200
        r = await expert.post(f"/v1/honours/{h[0]}/objections", json={"reason": "placed twice under two cards"})
        assert r.status_code == 201, r.text
        objection = r.json()["objection_id"]
        # only an operator resolves
        r = await expert.post(f"/v1/honours/{h[0]}/objections/{objection}/resolve",
                              json={"outcome": "upheld", "reason": "x"})  # fmt: skip
        assert r.status_code == 403
        upheld = {"outcome": "upheld", "reason": "one person, two cards: the second is void"}
        r = await op.post(f"/v1/honours/{h[0]}/objections/{objection}/resolve", json=upheld)
        assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
        _refusal(await expert.post(f"/v1/honours/{h[0]}/objections", json={"reason": "more"}), 409, "state")

        clock.advance(8)

        async def other_awarded() -> bool:
            return await _state(op, h[1]) == "awarded"

        # the pass that awarded h[1] (same notice end) left the withdrawn candidate alone
        assert await eventually(other_awarded, timeout_s=40, every_s=0.5)
        record = (await op.get(f"/v1/honours/{h[0]}")).json()
        assert record["state"] == "withdrawn" and record["awarded_at"] is None
        assert [s["step"] for s in record["steps"]][-2:] == ["objection_lodged", "objection_upheld"]
        # the competition's honours are the award alone
        listed = (await op.get("/v1/honours", params={"kind": f"knowledge_competition:{competition}"})).json()
        assert [x["honour_id"] for x in listed["items"]] == [h[1]]
