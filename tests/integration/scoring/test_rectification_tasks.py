"""Rectification tasks on the real stack (issue 14, "Self-assessment and rectification"): an item of a
community's rectification list (整改清单) becomes a task with an owner and a deadline, its owner
works it, an assessor verifies or reopens it, every change is an event on scoring.assessments, the
list shows each item's task, and the overdue gauge counts the tasks past their deadline.

The running scoring service is restarted once for this module with its clock shifted by a file
(`SCORING_TEST_CLOCK_FILE`, services/scoring/adapters/shifted_clock.py) so deadlines pass without
waiting days; it is restarted without it at the end. The test puts Fenghuang's Funding indicator on
Fenghuang's list with a low expert score (no other test assesses it); a task a previous run left in
hand is verified first."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from shared.events.topics import ASSESSMENTS
from tests.integration.scoring.conftest import Clock
from tests.support import client, eventually, headers_of, read_topic, service_url, unique

pytestmark = pytest.mark.integration
COMMUNITY, INDICATOR = "fenghuang", "conditions.funding"


def worker(community: str, subject: str) -> httpx.AsyncClient:
    return client("scoring", "community_worker", subject, community_id=community)


def _refusal(r: httpx.Response, status: int, field: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    if field is not None:
        assert r.json()["detail"][0]["loc"][-1] == field, r.text


async def _item(op: httpx.AsyncClient) -> dict | None:
    r = await op.get(f"/v1/index/{COMMUNITY}/rectification")
    assert r.status_code == 200, r.text
    return next((i for i in r.json()["items"] if i["indicator_id"] == INDICATOR), None)


async def _below_pass(expert: httpx.AsyncClient, op: httpx.AsyncClient) -> None:
    body = {"indicator_id": INDICATOR, "community_id": COMMUNITY, "score": 1.0, "kind": "expert",
            "evidence_text": "rectification test: no funding line in the 2026 budget"}  # fmt: skip
    r = await expert.post("/v1/assessments", json=body)
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _item(op), timeout_s=30, every_s=0.3)


async def _close_leftover(op: httpx.AsyncClient) -> None:
    """A task a previous run left in hand (it was interrupted) is taken to verified: one in hand per item."""
    task = (await _item(op))["task"]
    if task is None or task["status"] == "verified":
        return
    for to in ("in_progress", "done", "verified")[("open", "in_progress", "done").index(task["status"]) :]:
        r = await op.patch(f"/v1/rectification-tasks/{task['task_id']}", json={"status": to})
        assert r.status_code == 200, r.text


async def _overdue_gauge() -> float:
    async with httpx.AsyncClient(base_url=service_url("scoring"), timeout=10.0) as http:
        text = (await http.get("/metrics")).text
    m = re.search(rf'^learnstreet_rectification_tasks_overdue{{community="{COMMUNITY}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else -1.0


async def _gauge_is(value: float) -> bool | None:
    return await _overdue_gauge() == value or None


async def test_a_task_is_opened_worked_verified_and_reopened_with_every_change_an_event(clock: Clock):
    run = unique("rect")
    async with client("scoring", "operator", subject=f"{run}-street") as op, \
            client("scoring", "assessor", subject=f"{run}-expert") as expert, \
            worker(COMMUNITY, f"{run}-ws") as ws, worker("xinmu", f"{run}-other") as other:  # fmt: skip
        await _below_pass(expert, op)
        await _close_leftover(op)
        assert await eventually(lambda: _gauge_is(0.0), timeout_s=30, every_s=0.5)

        deadline = (clock.today() + timedelta(days=1)).isoformat()
        body = {"community_id": COMMUNITY, "indicator_id": INDICATOR, "owner_kind": "community", "owner": COMMUNITY,
                "deadline": deadline}  # fmt: skip
        # Only an item on the list, owned by its own workstation (or a department), opened by an operator.
        _refusal(await op.post("/v1/rectification-tasks", json={**body, "indicator_id": "planning.annual_plan_x"}),
                 422, "indicator_id")  # fmt: skip
        _refusal(await op.post("/v1/rectification-tasks", json={**body, "owner": "xinmu"}), 422, "owner")
        _refusal(await ws.post("/v1/rectification-tasks", json=body), 403)
        r = await op.post("/v1/rectification-tasks", json=body)
        assert r.status_code == 201, r.text
        task = r.json()
        tid = task["task_id"]
        assert (task["status"], task["owner"], task["deadline"], task["overdue"]) == ("open", COMMUNITY, deadline,
                                                                                       False)  # fmt: skip
        assert task["item"]["indicator_id"] == INDICATOR and task["item"]["pass_line"] == 3.75
        _refusal(await op.post("/v1/rectification-tasks", json=body), 409, "indicator_id")  # one in hand per item
        assert (await _item(op))["task"]["task_id"] == tid

        # The owner starts it; another workstation and an assessor may not; out-of-order steps are 409.
        _refusal(await other.patch(f"/v1/rectification-tasks/{tid}", json={"status": "in_progress"}), 403)
        _refusal(await expert.patch(f"/v1/rectification-tasks/{tid}", json={"status": "in_progress"}), 403)
        _refusal(await ws.patch(f"/v1/rectification-tasks/{tid}", json={"status": "done"}), 409, "status")
        _refusal(await ws.patch(f"/v1/rectification-tasks/{tid}", json={"deadline": "2099-01-01"}), 403)
        r = await ws.patch(f"/v1/rectification-tasks/{tid}", json={"status": "in_progress"})
        assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text
        r = await ws.post(f"/v1/rectification-tasks/{tid}/comments", json={"body": "经费申请已提交街道财政"})
        assert r.status_code == 201, r.text
        _refusal(await other.post(f"/v1/rectification-tasks/{tid}/comments", json={"body": "x"}), 403)

        # The deadline passes: the gauge and the list say overdue.
        clock.advance(3)
        assert await eventually(lambda: _gauge_is(1.0), timeout_s=40, every_s=0.5)
        listed = await op.get("/v1/rectification-tasks", params={"community_id": COMMUNITY, "overdue": "true"})
        assert [(t["task_id"], t["overdue"]) for t in listed.json()["items"]] == [(tid, True)]
        mine = (await ws.get("/v1/rectification-tasks")).json()["items"]
        assert tid in {t["task_id"] for t in mine}
        assert tid not in {t["task_id"] for t in (await other.get("/v1/rectification-tasks")).json()["items"]}

        # Done is not overdue; the owner cannot verify its own work; an assessor reopens with a reason.
        r = await ws.patch(f"/v1/rectification-tasks/{tid}", json={"status": "done"})
        assert r.status_code == 200 and r.json()["overdue"] is False, r.text
        assert await eventually(lambda: _gauge_is(0.0), timeout_s=40, every_s=0.5)
        _refusal(await ws.patch(f"/v1/rectification-tasks/{tid}", json={"status": "verified"}), 403)
        _refusal(await expert.patch(f"/v1/rectification-tasks/{tid}", json={"status": "open"}), 422, "reason")
        r = await expert.patch(f"/v1/rectification-tasks/{tid}",
                               json={"status": "open", "reason": "no staff assigned yet"})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "open", r.text
        assert await eventually(lambda: _gauge_is(1.0), timeout_s=40, every_s=0.5)

        # The operator moves the deadline and gives it to a department; the work goes on to verified.
        later = (clock.today() + timedelta(days=10)).isoformat()
        r = await op.patch(f"/v1/rectification-tasks/{tid}",
                           json={"owner_kind": "department", "owner": "街道财政办", "deadline": later})  # fmt: skip
        assert r.status_code == 200 and (r.json()["owner"], r.json()["overdue"]) == ("街道财政办", False), r.text
        assert await eventually(lambda: _gauge_is(0.0), timeout_s=40, every_s=0.5)
        _refusal(await ws.patch(f"/v1/rectification-tasks/{tid}", json={"status": "in_progress"}), 403)
        for to in ("in_progress", "done"):
            assert (await op.patch(f"/v1/rectification-tasks/{tid}", json={"status": to})).status_code == 200
        r = await expert.patch(f"/v1/rectification-tasks/{tid}", json={"status": "verified"})
        assert r.status_code == 200 and r.json()["status"] == "verified", r.text
        _refusal(await op.patch(f"/v1/rectification-tasks/{tid}", json={"deadline": later}), 409, "status")
        assert (await _item(op))["task"]["status"] == "verified"

        record = (await op.get(f"/v1/rectification-tasks/{tid}")).json()
        assert [(s["step"], s["actor"]) for s in record["steps"]] == [
            ("opened", f"{run}-street"), ("in_progress", f"{run}-ws"), ("commented", f"{run}-ws"),
            ("done", f"{run}-ws"), ("reopened", f"{run}-expert"), ("assigned", f"{run}-street"),
            ("in_progress", f"{run}-street"), ("done", f"{run}-street"), ("verified", f"{run}-expert"),
        ]  # fmt: skip
        assert [c["body"] for c in record["comments"]] == ["经费申请已提交街道财政"]

    # Every change is an event on scoring.assessments, keyed by the task, in order.
    key = tid.encode()
    records = await read_topic(
        ASSESSMENTS.name, timeout_s=30,
        until=lambda rs: sum(r.key == key for r in rs) >= 9,
    )  # fmt: skip
    seen = [(headers_of(r)["ce_type"].split(".")[-2], r) for r in records if r.key == key]
    assert [t for t, _ in seen] == ["task_opened"] + ["task_changed"] * 8
