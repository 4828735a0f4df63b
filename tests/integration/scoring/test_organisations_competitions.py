"""Organisation honours and knowledge competitions on the real stack (issue 14, "the honours of the
seed"): a Party organisation registered with its community is nominated by its workstation, reviewed,
approved by the street within the quota, shown in notice and awarded by the index leader; a
competition set up with 2 rounds and 3 places refuses a rank-4 result and a third round (422 naming
the field); a Most Beautiful Family is nominated by the community its members are registered in.
Scoring is restarted on a shifted clock for this module (conftest.py `clock`) to move past the
notice period."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from shared.events.topics import HONOURS
from tests.integration.scoring.conftest import Clock
from tests.integration.scoring.events import resident, scoring_db, send
from tests.support import client, eventually, headers_of, producer, read_topic, unique

pytestmark = pytest.mark.integration
YEAR = str(datetime.now(UTC).astimezone().year)


def _refusal(r: httpx.Response, status: int, field: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    (detail,) = r.json()["detail"]
    assert detail["loc"][-1] == field, detail
    return detail["msg"]


async def _community_with_a_free_place(kind: str) -> str:
    """The quota of Party organisations is one per community and year: a community none holds yet
    (every run revokes its award at the end, which frees the place)."""
    db = await scoring_db()
    try:
        held = {r["community_id"] for r in await db.fetch(
            "SELECT community_id FROM honours WHERE kind = $1 AND period = $2 AND state IN ('in_notice', 'awarded')",
            kind, YEAR)}  # fmt: skip
    finally:
        await db.close()
    async with client("scoring", "operator") as op:
        communities = [c["community_id"] for c in (await op.get("/v1/index")).json()["communities"]]
    free = [c for c in communities if c != "street" and c not in held]
    assert free, f"every community holds its {kind} place for {YEAR}"
    return free[0]


async def test_a_party_organisation_is_nominated_reviewed_approved_noticed_and_awarded(clock: Clock):
    run = unique("org")
    kind = "advanced_party_organisation"
    community = await _community_with_a_free_place(kind)
    other = "xinmu" if community != "xinmu" else "hehua"
    branch, firm = f"{run}-branch", f"{run}-firm"
    async with client("scoring", "operator", subject=f"{run}-street") as op, \
            client("scoring", "community_worker", subject=f"ws-{community}", community_id=community) as ws, \
            client("scoring", "community_worker", subject=f"ws-{other}", community_id=other) as other_ws:  # fmt: skip
        # Organisations are registered with their community: by its workstation, not another's.
        party = {"organisation_id": branch, "kind": "party_organisation", "community_id": community,
                 "name_zh": "测试社区第一党支部", "name_en": "First Party branch (test)"}  # fmt: skip
        assert (await other_ws.post("/v1/organisations", json=party)).status_code == 403
        r = await ws.post("/v1/organisations", json=party)
        assert r.status_code == 201 and r.json()["registered_by"] == f"ws-{community}", r.text
        _refusal(await ws.post("/v1/organisations", json=party), 409, "organisation_id")
        _refusal(await op.post("/v1/organisations", json={**party, "organisation_id": f"{run}-x", "kind": "club"}),
                 422, "kind")  # fmt: skip
        enterprise = {**party, "organisation_id": firm, "kind": "enterprise", "name_zh": "测试企业", "name_en": "Firm"}
        assert (await op.post("/v1/organisations", json=enterprise)).status_code == 201
        listed = (await ws.get("/v1/organisations", params={"kind": "party_organisation"})).json()["items"]
        assert branch in {o["organisation_id"] for o in listed}
        assert (await other_ws.get("/v1/organisations", params={"community_id": community})).status_code == 403

        # Nominated by the workstation with a reason; an enterprise is no Party organisation.
        nomination = {"kind": kind, "recipient_id": branch, "community_id": community,
                      "reason": "党员学习教育全年开展24次"}  # fmt: skip
        _refusal(await ws.post("/v1/honours/nominations", json={**nomination, "recipient_id": firm}), 422,
                 "recipient_id")  # fmt: skip
        _refusal(await ws.post("/v1/honours/nominations", json={**nomination, "recipient_id": f"{run}-nobody"}), 422,
                 "recipient_id")  # fmt: skip
        assert (await other_ws.post("/v1/honours/nominations", json=nomination)).status_code == 403
        r = await ws.post("/v1/honours/nominations", json=nomination)
        assert r.status_code == 201, r.text
        h = r.json()
        assert (h["state"], h["kind"], h["recipient_id"], h["name_zh"], h["name_en"]) == (
            "nominated", kind, branch, "先进基层党组织", "Advanced Grassroots Party Organisation")  # fmt: skip
        _refusal(await ws.post("/v1/honours/nominations", json=nomination), 409, "recipient_id")
        r = await op.post("/v1/honours/nominations", json={**nomination, "kind": "learning_organisation",
                                                           "recipient_id": firm})  # fmt: skip
        assert r.status_code == 201 and r.json()["name_zh"] == "学习型组织", r.text

        # The same selection as every honour: community review, street approval in quota, notice.
        waiting = (await ws.get("/v1/honour-candidates", params={"limit": 1000})).json()["items"]
        assert h["honour_id"] in {x["honour_id"] for x in waiting}
        r = await ws.post(f"/v1/honours/{h['honour_id']}/community-review", json={"decision": "approved"})
        assert r.status_code == 200 and r.json()["state"] == "community_approved", r.text
        r = await op.post(f"/v1/honours/{h['honour_id']}/street-review", json={"decision": "approved"})
        assert r.status_code == 200 and r.json()["state"] == "in_notice", r.text

        clock.advance(8)

        async def awarded() -> bool:
            return (await op.get(f"/v1/honours/{h['honour_id']}")).json()["state"] == "awarded"

        assert await eventually(awarded, timeout_s=40, every_s=0.5)
        record = (await op.get(f"/v1/honours/{h['honour_id']}")).json()
        assert [(s["step"], s["acted_by"]) for s in record["steps"]] == [
            ("nominated", f"ws-{community}"), ("community_approved", f"ws-{community}"),
            ("street_approved", f"{run}-street"), ("awarded", "notice"),
        ]  # fmt: skip
        assert record["recipient_kind"] == "employer" and record["community_id"] == community
        # Revoked, the award frees the community's one place of the year for the next run.
        r = await op.post(f"/v1/honours/{h['honour_id']}/revoke", json={"reason": "test run over"})
        assert r.status_code == 200, r.text

    key = h["honour_id"].encode()
    records = await read_topic(HONOURS.name, until=lambda rs: any(
        r.key == key and headers_of(r)["ce_type"].endswith("honour.revoked.v1") for r in rs), timeout_s=30)  # fmt: skip
    types = [headers_of(r)["ce_type"].split(".")[-2] for r in records if r.key == key]
    assert types == ["nominated", "reviewed", "approved", "awarded", "revoked"]
    registered = [r for r in records if r.key == branch.encode()]
    assert [headers_of(r)["ce_type"] for r in registered] == ["learnstreet.scoring.organisation.registered.v1"]


async def test_a_competition_with_two_rounds_and_three_places_refuses_a_fourth_rank(clock: Clock):
    run = unique("kc")
    setup = {"competition_id": run, "name_zh": "平湖读书知识竞赛", "name_en": "Pinghu reading quiz", "rounds": 2,
             "places": 3}  # fmt: skip
    results = [{"place": p, "resident_id": f"{run}-r{p}", "community_id": "hehua"} for p in (1, 2, 3)]
    async with client("scoring", "operator", subject=f"{run}-street") as op, \
            client("scoring", "community_worker", subject="ws-hehua", community_id="hehua") as ws:  # fmt: skip
        # Results of a competition nobody set up are refused; only an operator sets one up.
        r = await op.post(f"/v1/competitions/{run}/results", json={"period": YEAR, "round": 1, "results": results})
        _refusal(r, 422, "competition_id")
        assert (await ws.post("/v1/competitions", json=setup)).status_code == 403
        r = await op.post("/v1/competitions", json=setup)
        assert r.status_code == 201 and (r.json()["rounds"], r.json()["places"]) == (2, 3), r.text
        assert (await op.post("/v1/competitions", json=setup)).status_code == 200
        _refusal(await op.post("/v1/competitions", json={**setup, "places": 5}), 409, "competition_id")
        _refusal(await op.post("/v1/competitions", json={**setup, "competition_id": f"{run}-0", "rounds": 0}), 422,
                 "rounds")  # fmt: skip

        fourth = [{"place": 4, "resident_id": f"{run}-r4", "community_id": "hehua"}]
        r = await op.post(f"/v1/competitions/{run}/results", json={"period": YEAR, "round": 2, "results": fourth})
        msg = _refusal(r, 422, "results.0.place")
        assert "places 1 to 3, not 4" in msg
        _refusal(await op.post(f"/v1/competitions/{run}/results",
                               json={"period": YEAR, "round": 3, "results": results}), 422, "round")  # fmt: skip
        _refusal(await op.post(f"/v1/competitions/{run}/results", json={"period": YEAR, "results": results}), 422,
                 "round")  # fmt: skip

        r = await op.post(f"/v1/competitions/{run}/results", json={"period": YEAR, "round": 2, "results": results})
        assert r.status_code == 201, r.text
        placed = r.json()["nominated"]
        assert [(h["place"], h["state"], h["name_zh"]) for h in placed] == [
            (p, "nominated", "知识竞赛获奖") for p in (1, 2, 3)]  # fmt: skip

        record = (await ws.get(f"/v1/competitions/{run}")).json()
        assert (record["name_en"], record["rounds"], record["places"]) == ("Pinghu reading quiz", 2, 3)
        assert [(p["recipient_id"], p["place"]) for p in record["placed"]] == [(f"{run}-r{p}", p) for p in (1, 2, 3)]
        assert (await op.get(f"/v1/competitions/{run}-none")).status_code == 404

    db = await scoring_db()
    try:
        rows = await db.fetch(
            "SELECT place FROM honours WHERE kind = $1 ORDER BY place", f"knowledge_competition:{run}"
        )
        assert [r["place"] for r in rows] == [1, 2, 3]  # the refused rank 4 left nothing behind
    finally:
        await db.close()


async def test_a_most_beautiful_family_is_nominated_by_its_members_community_with_its_members():
    run = unique("fam")
    family, members = f"{run}-family", [f"{run}-m{i}" for i in range(2)]
    enrolment = await producer("enrolment")
    try:
        await send(enrolment, *[resident(m, "lichang", family_id=family) for m in members])
    finally:
        await enrolment.stop()
    nomination = {"kind": "most_beautiful_family", "recipient_id": family, "community_id": "lichang",
                  "reason": "三代同堂共读，社区志愿服务十年"}  # fmt: skip
    async with client("scoring", "community_worker", subject="ws-lichang", community_id="lichang") as ws, \
            client("scoring", "operator") as op:  # fmt: skip

        async def nominated() -> dict | None:  # 422 until scoring has read the family's members
            r = await ws.post("/v1/honours/nominations", json=nomination)
            return r.json() if r.status_code == 201 else None

        h = await eventually(nominated, timeout_s=30, every_s=0.3)
        assert (h["state"], h["recipient_kind"], sorted(h["resident_ids"]), h["name_zh"], h["name_en"]) == (
            "nominated", "family", members, "最美家庭", "Most Beautiful Family")  # fmt: skip
        # The family's members live in lichang: another community cannot put it forward.
        r = await op.post("/v1/honours/nominations", json={**nomination, "community_id": "hehua"})
        _refusal(r, 422, "community_id")
        r = await op.post("/v1/honours/nominations", json={**nomination, "kind": "advanced_party_organisation"})
        _refusal(r, 422, "recipient_id")
