"""Self-assessment (自评) and expert assessment (专家评估) on the real stack (issue 14): both are kept
and shown, only an assessor records an expert score, and an operator's or a community worker's
score never replaces an expert's in the index (it did: an operator's assessment overwrote one)."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.support import client, eventually, unique

pytestmark = pytest.mark.integration
COMMUNITY, INDICATOR = "shangmugu", "planning.development_plan"


def worker(community: str, subject: str) -> httpx.AsyncClient:
    return client("scoring", "community_worker", subject, community_id=community)


async def _leaf(http: httpx.AsyncClient) -> dict:
    view = (await http.get(f"/v1/index/{COMMUNITY}")).json()
    return next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == INDICATOR)


async def test_an_operator_never_overwrites_an_experts_score():
    run = unique("assess")
    expert_score = round(random.uniform(4.6, 5.9), 2)  # a fresh value every run: the latest expert one counts
    body = {"indicator_id": INDICATOR, "community_id": COMMUNITY, "evidence_text": f"{run}: plan reviewed"}
    async with client("scoring", "assessor", subject=f"{run}-expert") as expert, \
            client("scoring", "operator", subject=f"{run}-street") as op, \
            worker(COMMUNITY, f"{run}-ws") as ws, worker("xinmu", f"{run}-other") as other:  # fmt: skip
        r = await expert.post("/v1/assessments", json={**body, "score": expert_score})
        assert r.status_code == 201 and (r.json()["kind"], r.json()["actor_role"]) == ("expert", "assessor"), r.text

        # The operator's score after it is a self-assessment, kept apart: the index keeps the expert's.
        r = await op.post("/v1/assessments", json={**body, "score": 1.0})
        assert r.status_code == 201 and r.json()["kind"] == "self", r.text
        r = await op.post("/v1/assessments", json={**body, "score": 1.0, "kind": "expert"})
        assert r.status_code == 403, r.text
        r = await ws.post("/v1/assessments", json={**body, "score": 1.5, "kind": "expert"})
        assert r.status_code == 403, r.text
        r = await other.post("/v1/assessments", json={**body, "score": 1.5})
        assert r.status_code == 403, r.text  # another community's workstation
        r = await ws.post("/v1/assessments", json={**body, "score": 1.5})
        assert r.status_code == 201 and (r.json()["kind"], r.json()["actor_role"]) == ("self", "community_worker")

        async def both_shown():
            leaf = await _leaf(op)
            return leaf if (leaf["self_assessment"] or {}).get("by") == f"{run}-ws" else None

        leaf = await eventually(both_shown, timeout_s=30, every_s=0.3)
        assert (leaf["value"], leaf["score"], leaf["assessed_by"]) == (expert_score, expert_score, "expert")
        assert (leaf["expert_assessment"]["score"], leaf["expert_assessment"]["by"]) == (expert_score, f"{run}-expert")
        assert leaf["self_assessment"]["score"] == 1.5

        # Both histories are kept, each with its kind; a community worker reads its own community's.
        mine = (await op.get("/v1/assessments", params={"community_id": COMMUNITY, "indicator_id": INDICATOR,
                                                         "kind": "self"})).json()["items"]  # fmt: skip
        assert [(a["score"], a["assessor"]) for a in mine[:2]] == [(1.5, f"{run}-ws"), (1.0, f"{run}-street")]
        assert (await ws.get("/v1/assessments")).status_code == 200
        assert (await other.get("/v1/assessments", params={"community_id": COMMUNITY})).status_code == 403
