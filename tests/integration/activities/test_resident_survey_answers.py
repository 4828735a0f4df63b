"""A resident's own survey answers and session ratings (issue 15), read back on the running stack:
`GET /v1/residents/{id}/survey-responses` and `GET /v1/residents/{id}/satisfaction` on activities.
The resident reads their own; an operator and a worker of the resident's community read them too,
each read audited; another resident and a worker of another community are refused with 403
naming `resident_id`. A resident activities does not know (never registered, or erased) has
none: 200 with an empty list for the operator and for the id's owner (a worker: 403, the resident
is not registered in their community). Erasure: tests/integration/activities/test_surveys.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.activities.helpers import checkin, make_place, now, outcome, register_residents, send_checkins
from tests.integration.activities.test_surveys import QUESTIONS, answers
from tests.support import client, eventually, unique

pytestmark = pytest.mark.integration

COMMUNITY, OTHER = "xinnan", "bainikeng"


def _paths(rid: str) -> tuple[str, str]:
    return f"/v1/residents/{rid}/survey-responses", f"/v1/residents/{rid}/satisfaction"


async def _known(rid: str) -> bool | None:
    async with client("activities") as op:
        r = await op.get(f"/v1/residents/{rid}/data-export")
    return (r.status_code == 200 and bool(r.json()["tables"].get("residents"))) or None


async def test_a_resident_reads_their_answers_and_ratings_and_staff_of_their_community_too():
    run = unique("mine")
    me, neighbour = f"{run}-r", f"{run}-n"
    await register_residents(me, neighbour, community_id=COMMUNITY, purposes=("surveys",))
    place = await make_place(starts_at=now() - timedelta(minutes=5), theme="arts")  # a xinnan session under way
    survey_id = f"{run}-survey"
    async with client("activities") as op:
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": "学习需求调查",
                                               "title_en": "Learning needs survey", "questions": QUESTIONS,
                                               "audience": {"community_ids": [COMMUNITY]}})  # fmt: skip
        assert r.status_code == 201, r.text
    await eventually(lambda: _known(me), timeout_s=30)
    scan = checkin(place, me, now())
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
    responses, ratings = _paths(me)

    async with client("activities", "resident", me) as mine:
        assert (await mine.get(responses)).json() == [] and (await mine.get(ratings)).json() == []
        r = await mine.post(f"/v1/surveys/{survey_id}/responses",
                            json=answers(q1="rarely", q2=("eve", "am"), q3=5, q4="周末多开课"))  # fmt: skip
        assert r.status_code == 201, r.text
        answered_at = r.json()["answered_at"]
        r = await mine.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 4, "comment": "很好"})
        assert r.status_code == 201, r.text
        rated_at = r.json()["rated_at"]

        r = await mine.get(responses)
        assert r.status_code == 200, r.text
        assert r.json() == [{
            "survey_id": survey_id, "title_zh": "学习需求调查", "title_en": "Learning needs survey",
            "answered_at": answered_at,
            "answers": [{"question_id": "q1", "value": "rarely"}, {"question_id": "q2", "value": ["am", "eve"]},
                        {"question_id": "q3", "value": 5}, {"question_id": "q4", "value": "周末多开课"}],
        }]  # fmt: skip
        r = await mine.get(ratings)
        assert r.status_code == 200, r.text
        assert r.json() == [{"session_id": place.session_id, "course_id": place.course_id, "score": 4,
                             "comment": "很好", "rated_at": rated_at}]  # fmt: skip
        # their reads are not recorded (a resident reading their own data)

    # another resident: 403 naming resident_id, on both
    async with client("activities", "resident", neighbour) as them:
        for path in (responses, ratings):
            r = await them.get(path)
            assert r.status_code == 403, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "resident_id"], r.text
            assert "居民" in r.text and "own" in r.text

    # an operator and a worker of the resident's community read them; each read is audited
    async with client("activities", "operator", f"{run}-op") as op:
        assert (await op.get(responses)).json()[0]["survey_id"] == survey_id
        assert (await op.get(ratings)).json()[0]["score"] == 4
    async with client("activities", "community_worker", f"{run}-w", community_id=COMMUNITY) as worker:
        assert (await worker.get(responses)).json()[0]["answers"][0] == {"question_id": "q1", "value": "rarely"}
        assert (await worker.get(ratings)).json()[0]["session_id"] == place.session_id
    async with client("activities", "community_worker", f"{run}-x", community_id=OTHER) as stranger:
        for path in (responses, ratings):
            r = await stranger.get(path)
            assert r.status_code == 403, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "resident_id"] and COMMUNITY not in r.text, r.text
    async with client("activities") as dpo:
        log = (await dpo.get("/v1/audit", params={"resident_id": me})).json()["accesses"]
    seen = {(a["actor"], a["route"]) for a in log}
    for actor in (f"{run}-op", f"{run}-w"):
        assert {(actor, "/v1/residents/{resident_id}/survey-responses"),
                (actor, "/v1/residents/{resident_id}/satisfaction")} <= seen, log  # fmt: skip
    assert not any(a["actor"] in (me, neighbour, f"{run}-x") for a in log), log  # refused before recording


async def test_an_unknown_resident_has_no_answers_or_ratings():
    nobody = unique("mine-nobody")
    responses, ratings = _paths(nobody)
    async with client("activities") as op, client("activities", "resident", nobody) as themself:
        for http in (op, themself):
            for path in (responses, ratings):
                r = await http.get(path)
                assert r.status_code == 200 and r.json() == [], r.text
    async with client("activities", "community_worker", unique("mine-w"), community_id=COMMUNITY) as worker:
        r = await worker.get(responses)
        assert r.status_code == 403, r.text


async def test_a_bad_resident_id_is_422_naming_it():
    async with client("activities") as op:
        r = await op.get("/v1/residents/" + "x" * 65 + "/satisfaction")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "resident_id"], r.text
