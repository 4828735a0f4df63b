"""Questionnaires (问卷) and session satisfaction (满意度) on the running stack: a survey reaches the
residents of its audience, each answers once, the results count per community with the response
rate; a rating needs an attendance, moves scoring's satisfaction indicator and the needs ranking.
Hostile input is a 422 naming the field, never a 500."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.activities.domain.surveys import rating_id
from tests.integration.activities.helpers import checkin, make_place, now, outcome, register_residents, send_checkins
from tests.support import client, env, eventually, unique

pytestmark = pytest.mark.integration

OPTIONS = [{"id": "often", "label_zh": "经常", "label_en": "Often"},
           {"id": "rarely", "label_zh": "很少", "label_en": "Rarely"}]  # fmt: skip
QUESTIONS = [
    {"id": "q1", "kind": "single", "title_zh": "您多久参加一次课程？", "title_en": "How often do you attend?",
     "options": OPTIONS},
    {"id": "q2", "kind": "multiple", "title_zh": "您喜欢的时间", "title_en": "Times you like",
     "options": [{"id": "am", "label_zh": "上午", "label_en": "Morning"},
                 {"id": "pm", "label_zh": "下午", "label_en": "Afternoon"},
                 {"id": "eve", "label_zh": "晚上", "label_en": "Evening"}]},
    {"id": "q3", "kind": "scale", "title_zh": "总体满意度", "title_en": "Overall satisfaction", "scale_max": 5},
    {"id": "q4", "kind": "text", "title_zh": "建议", "title_en": "Suggestions", "required": False},
]  # fmt: skip


def fields(response) -> set[str]:
    return {".".join(str(p) for p in d["loc"]) for d in response.json()["detail"]}


def answers(q1="often", q2=("am",), q3=4, q4=None) -> dict:
    out = [{"question_id": "q1", "value": q1}, {"question_id": "q2", "value": list(q2)},
           {"question_id": "q3", "value": q3}]  # fmt: skip
    if q4 is not None:
        out.append({"question_id": "q4", "value": q4})
    return {"answers": out}


async def _open_surveys(resident_id: str) -> list[str]:
    async with client("activities", "resident", resident_id) as me:
        r = await me.get("/v1/surveys", params={"open": "true"})
        assert r.status_code == 200, r.text
        return [s["survey_id"] for s in r.json()]


async def test_a_survey_reaches_its_community_is_answered_once_and_counted_per_community():
    run = unique("sv")
    mine = [f"{run}-x{i}" for i in range(3)]
    other = f"{run}-b0"
    await register_residents(*mine, community_id="xinnan", purposes=("surveys",))
    await register_residents(other, community_id="bainikeng", purposes=("surveys",))
    survey_id = f"{run}-survey"
    async with client("activities") as op:
        # every resident's registration has reached activities before the survey is published
        async def known():
            for rid in (*mine, other):
                r = await op.get(f"/v1/residents/{rid}/data-export")
                if r.status_code != 200 or not r.json()["tables"].get("residents"):
                    return None
            return True

        await eventually(known, timeout_s=30)
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": "学习需求调查",
                                               "title_en": "Learning needs survey", "questions": QUESTIONS,
                                               "audience": {"community_ids": ["xinnan"]}})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["questions"][1]["options"][2]["label_en"] == "Evening"
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": "再来", "title_en": "Again",
                                               "questions": QUESTIONS, "audience": {"everyone": True}})  # fmt: skip
        assert r.status_code == 409, r.text
        before = (await op.get(f"/v1/surveys/{survey_id}/results")).json()
        assert [c["community_id"] for c in before["communities"]] == ["xinnan"]
        targeted = before["communities"][0]["targeted"]
        assert targeted >= 3 and before["communities"][0]["respondents"] == 0

    async def every_one_sees_it():
        return all([survey_id in await _open_surveys(r) for r in mine]) or None

    await eventually(every_one_sees_it, timeout_s=30)
    assert survey_id not in await _open_surveys(other)  # another community's resident does not see it
    async with client("activities", "resident", other) as them:
        r = await them.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert r.status_code == 403, r.text
        assert (await them.get(f"/v1/surveys/{survey_id}")).status_code == 404

    for i, rid in enumerate(mine):
        async with client("activities", "resident", rid) as me:
            r = await me.post(f"/v1/surveys/{survey_id}/responses",
                              json=answers(q1="often" if i < 2 else "rarely", q2=("am", "eve") if i == 0 else ("pm",),
                                           q3=5 - i, q4="多开周末课" if i == 0 else None))  # fmt: skip
            assert r.status_code == 201, r.text
            assert r.json()["resident_id"] == rid
            assert survey_id not in await _open_surveys(rid)  # answered: no longer open for them
    async with client("activities", "resident", mine[0]) as me:
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert r.status_code == 409 and fields(r) == {"body.survey_id"}, r.text

    async with client("activities") as op:
        r = await op.get(f"/v1/surveys/{survey_id}/results")
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["targets_counted_at"] == "read_time"
    (xinnan,) = body["communities"]
    # each respondent moved from not-answered to answered: the targeted residents stay the same
    assert (xinnan["targeted"], xinnan["respondents"]) == (targeted, 3)
    assert xinnan["response_rate"] == round(3 / targeted, 4)
    q = xinnan["questions"]
    assert q["q1"]["options"] == {"often": 2, "rarely": 1}
    assert q["q2"]["options"] == {"am": 1, "pm": 2, "eve": 1}
    assert q["q3"]["mean"] == 4.0 and q["q3"]["points"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert q["q4"]["texts"] == ["多开周末课"] and q["q4"]["answered"] == 1

    # a community worker reads their community's results; another community's worker is refused
    async with client("activities", "community_worker", unique("cw"), community_id="xinnan") as cw:
        r = await cw.get(f"/v1/surveys/{survey_id}/results")
        assert r.status_code == 200 and [c["community_id"] for c in r.json()["communities"]] == ["xinnan"]
    async with client("activities", "community_worker", unique("cw"), community_id="bainikeng") as cw:
        r = await cw.get(f"/v1/surveys/{survey_id}/results")
        assert r.status_code == 403, r.text
        r = await cw.post("/v1/surveys", json={"title_zh": "越权", "title_en": "Beyond", "questions": QUESTIONS,
                                               "audience": {"community_ids": ["xinnan"]}})  # fmt: skip
        assert r.status_code == 403 and fields(r) == {"body.audience.community_ids"}, r.text
        r = await cw.post("/v1/surveys", json={"title_zh": "本社区", "title_en": "Ours", "questions": QUESTIONS,
                                               "audience": {"community_ids": ["bainikeng"]}})  # fmt: skip
        assert r.status_code == 201, r.text


async def test_hostile_surveys_and_answers_are_422_naming_the_field():
    run = unique("svh")
    rid = f"{run}-r"
    await register_residents(rid, community_id="xinnan", purposes=("surveys",))
    survey_id = f"{run}-survey"
    async with client("activities") as op:
        bad = [
            ({"questions": [QUESTIONS[0], {**QUESTIONS[1], "id": "q1"}]}, "body.questions[1].id"),
            ({"questions": [{**QUESTIONS[1], "options": [OPTIONS[0], OPTIONS[0]]}]}, "body.questions[0].options[1].id"),
            ({"questions": [{**QUESTIONS[2], "scale_max": 1000}]}, "body.questions[0].scale_max"),
            ({"questions": [{**QUESTIONS[3], "options": OPTIONS}]}, "body.questions[0].options"),
            ({"audience": {"community_ids": ["atlantis"]}}, "body.audience.community_ids[0]"),
            ({"audience": {}}, "body.audience"),
        ]
        for change, field in bad:
            body = {"title_zh": "问卷", "title_en": "Survey", "questions": QUESTIONS,
                    "audience": {"community_ids": ["xinnan"]}, **change}  # fmt: skip
            r = await op.post("/v1/surveys", json=body)
            assert r.status_code == 422 and fields(r) == {field}, (change, r.text)
        # pydantic's own refusals name the field too: a huge title, a kind nobody knows
        r = await op.post("/v1/surveys", json={"title_zh": "长" * 100_000, "title_en": "x", "questions": QUESTIONS,
                                               "audience": {"everyone": True}})  # fmt: skip
        assert r.status_code == 422 and "body.title_zh" in fields(r), r.text
        r = await op.post("/v1/surveys", json={"title_zh": "问卷", "title_en": "x", "audience": {"everyone": True},
                                               "questions": [{**QUESTIONS[0], "kind": "ranking"}]})  # fmt: skip
        assert r.status_code == 422 and "body.questions.0.kind" in fields(r), r.text
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": "问卷", "title_en": "Survey",
                                               "questions": QUESTIONS, "audience": {"everyone": True}})  # fmt: skip
        assert r.status_code == 201, r.text

    await eventually(lambda: _sees(rid, survey_id), timeout_s=30)
    hostile = [
        (answers(q4="字" * 100_000), "body.answers[3].value"),  # huge text
        (answers(q1="sometimes"), "body.answers[0].value"),  # unknown option id
        (answers(q2=("am", "midnight")), "body.answers[1].value"),
        (answers(q3=6), "body.answers[2].value"),  # scale out of range
        (answers(q3=0), "body.answers[2].value"),
        ({"answers": [*answers()["answers"], {"question_id": "q1", "value": "rarely"}]}, "body.answers[3].question_id"),
        ({"answers": [*answers()["answers"], {"question_id": "q99", "value": "x"}]}, "body.answers[3].question_id"),
        ({"answers": answers()["answers"][:1]}, "body.answers"),  # required questions missing
    ]
    async with client("activities", "resident", rid) as me:
        for body, field in hostile:
            r = await me.post(f"/v1/surveys/{survey_id}/responses", json=body)
            assert r.status_code == 422 and fields(r) == {field}, (field, r.text)
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json={"answers": [{"question_id": "q3", "value": 2.5}]})
        assert r.status_code == 422 and any(f.startswith("body.answers.0.value") for f in fields(r)), r.text
        # none of them counted: the resident still answers once
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert r.status_code == 201, r.text
        r = await me.post("/v1/surveys/no-such-survey/responses", json=answers())
        assert r.status_code == 404, r.text


async def _sees(resident_id: str, survey_id: str) -> bool:
    return survey_id in await _open_surveys(resident_id)


async def _leaf(http, community: str, indicator: str) -> dict:
    view = (await http.get(f"/v1/index/{community}")).json()
    return next(i for a in view["aspects"] for i in a["indicators"] if i["id"] == indicator)


async def _low_ratings(community: str, theme: str) -> int:
    async with client("activities") as op:
        r = await op.get("/v1/needs/ranking", params={"community_id": community})
        assert r.status_code == 200, r.text
    return next((n["low_ratings"] for n in r.json() if n["theme"] == theme), 0)


async def test_only_attendees_rate_a_session_once_and_ratings_move_the_satisfaction_indicator():
    run = unique("sat")
    place = await make_place(starts_at=now() - timedelta(minutes=5), theme="arts")
    came, stayed_home = [f"{run}-a{i}" for i in range(2)], f"{run}-h"
    await register_residents(*came, stayed_home, community_id="xinnan", purposes=("surveys",))
    scans = [checkin(place, r, now()) for r in came]
    await send_checkins(*scans)
    for scan in scans:
        assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"
    async with client("scoring") as scoring:
        before = await _leaf(scoring, "xinnan", "implementation.satisfaction")
    low_before = await _low_ratings("xinnan", "arts")

    async with client("activities", "resident", stayed_home) as me:
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 5})
        assert r.status_code == 403 and fields(r) == {"body.session_id"}, r.text
    async with client("activities", "resident", came[0]) as me:
        for body, field in [({"score": 6}, "body.score"), ({"score": 0}, "body.score"),
                            ({"score": 4, "comment": "好" * 5000}, "body.comment")]:  # fmt: skip
            r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json=body)
            assert r.status_code == 422 and fields(r) == {field}, r.text
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 5, "comment": "老师很好"})
        assert r.status_code == 201 and r.json()["score"] == 5, r.text
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 1})
        assert r.status_code == 409, r.text
        r = await me.post("/v1/sessions/no-such-session/satisfaction", json={"score": 3})
        assert r.status_code == 404, r.text
    async with client("activities", "resident", came[1]) as me:
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 2})
        assert r.status_code == 201, r.text

    async with client("scoring") as scoring:

        async def moved():
            leaf = await _leaf(scoring, "xinnan", "implementation.satisfaction")
            return leaf if leaf["denominator"] >= before["denominator"] + 2 else None

        after = await eventually(moved, timeout_s=30)
    # one satisfied (5) and one not (2): exactly these two ratings, counted once each
    assert after["denominator"] == before["denominator"] + 2
    assert after["numerator"] == before["numerator"] + 1
    assert 0 <= after["value"] <= 1 and 0 <= after["score"] <= after["max"]
    assert after["denominator_kind"] == "session_ratings"
    # the rating of 2 adds to the theme's need in the session's community
    assert await _low_ratings("xinnan", "arts") == low_before + 1


async def _street_survey_seen_and_a_visit_recorded(rid: str, survey_id: str, place) -> None:
    """A survey to everyone that the resident sees, and their recorded visit to `place` (to rate it)."""
    async with client("activities") as op:
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": "全街道", "title_en": "Street",
                                               "questions": QUESTIONS, "audience": {"everyone": True}})  # fmt: skip
        assert r.status_code == 201, r.text
    await eventually(lambda: _sees(rid, survey_id), timeout_s=60)
    scan = checkin(place, rid, now())
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"


async def test_erasure_keeps_the_counts_of_answers_and_ratings_without_what_the_resident_wrote():
    """Free text and comments go; choices, scales and scores stay under a pseudonym, so a survey's
    results and the satisfaction indicator do not move (issue 17: aggregates stay correct). The
    resident's own lists (GET /v1/residents/{id}/survey-responses, /satisfaction) are empty."""
    rid, survey_id = unique("sv-era"), unique("sv-era-survey")
    place = await make_place(starts_at=now() - timedelta(minutes=5))
    async with client("enrolment", "operator", "era-desk") as enr:
        r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": "xinnan",
                                                  "audience_group": "adult", "consent": True, "consents": ["surveys"],
                                                  "phone": f"+86137{uuid.uuid4().int % 10**8:08d}"})  # fmt: skip
        assert r.status_code == 201, r.text
    await _street_survey_seen_and_a_visit_recorded(rid, survey_id, place)
    async with client("activities", "resident", rid) as me:
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json=answers(q4="我的名字是张三"))
        assert r.status_code == 201, r.text
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 4, "comment": "张三说很好"})
        assert r.status_code == 201, r.text
        export = (await me.get(f"/v1/residents/{rid}/data-export")).json()["tables"]
    assert export["survey_responses"][0]["answers"]["q4"] == "我的名字是张三"
    assert export["session_ratings"][0]["comment"] == "张三说很好"
    mine = (f"/v1/residents/{rid}/survey-responses", f"/v1/residents/{rid}/satisfaction")
    async with client("activities") as op:  # what the phone page reads back (issue 15)
        assert [len((await op.get(path)).json()) for path in mine] == [1, 1]
        before = (await op.get(f"/v1/surveys/{survey_id}/results")).json()

    async with client("enrolment", "operator", "era-desk") as enr:
        r = await enr.post(f"/v1/residents/{rid}/erasure", json={"reason": "asked", "approved_by": "era-dpo"})
        assert r.status_code == 201, r.text
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:

        async def erased():
            left = await conn.fetchval(
                """SELECT (SELECT count(*) FROM survey_responses WHERE resident_id = $1)
                        + (SELECT count(*) FROM session_ratings WHERE resident_id = $1)""",
                rid,
            )
            return left == 0 or None

        await eventually(erased, timeout_s=60)
        kept = await conn.fetchrow("SELECT score, comment FROM session_ratings WHERE rating_id = $1",
                                   rating_id(rid, place.session_id))  # fmt: skip
        assert (kept["score"], kept["comment"]) == (4, "")  # the rating still counts; what they wrote is gone
        kept = await conn.fetchrow("SELECT resident_id, answers FROM survey_responses WHERE survey_id = $1", survey_id)
        assert kept["resident_id"].startswith("erased:")
        assert set(json.loads(kept["answers"])) == {"q1", "q2", "q3"}  # the free text (q4) is gone
    finally:
        await conn.close()
    async with client("activities") as op:
        after = (await op.get(f"/v1/surveys/{survey_id}/results")).json()
    assert "我的名字是张三" in json.dumps(before, ensure_ascii=False)
    assert "我的名字是张三" not in json.dumps(after, ensure_ascii=False)
    assert _counts(after) == _counts(before), (before, after)
    # nothing is read back for the erased resident: not by the operator, not on a token with their id
    async with client("activities") as op, client("activities", "resident", rid) as them:
        for http in (op, them):
            for path in mine:
                r = await http.get(path)
                assert r.status_code == 200 and r.json() == [], (path, r.text)


def _counts(results: object) -> object:
    """A survey's results without its free-text questions: what an erasure must leave as it was."""
    if isinstance(results, dict):
        return {k: _counts(v) for k, v in results.items() if not (isinstance(v, dict) and v.get("kind") == "text")}
    if isinstance(results, list):
        return [_counts(v) for v in results]
    return results


async def _agrees_to_surveys(resident_id: str) -> bool | None:
    async with client("activities") as op:
        tables = (await op.get(f"/v1/residents/{resident_id}/data-export")).json()["tables"]
    rows = tables.get("resident_consents") or []
    return (bool(rows) and "surveys" in rows[0]["purposes"]) or None


async def test_answers_and_ratings_need_the_surveys_consent_given_and_withdrawn_through_enrolment():
    """PIPL Art. 14: a resident who has not agreed to surveys (or withdrew) is refused with 403
    naming `consent`; agreeing through enrolment's consent API lets them answer and rate."""
    rid, survey_id = unique("sv-consent"), unique("sv-consent-survey")
    place = await make_place(starts_at=now() - timedelta(minutes=5))
    async with client("enrolment", "operator", "consent-desk") as enr:
        r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": "xinnan",
                                                  "audience_group": "adult",
                                                  "consents": ["learning_record"]})  # fmt: skip
        assert r.status_code == 201, r.text
        notice = (await enr.get("/v1/privacy-notice")).json()["version"]
    await _street_survey_seen_and_a_visit_recorded(rid, survey_id, place)
    async with client("activities", "resident", rid) as me:
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert r.status_code == 403 and fields(r) == {"body.consent"}, r.text
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 5})
        assert r.status_code == 403 and fields(r) == {"body.consent"}, r.text
    async with client("enrolment", "resident", rid) as mine:
        r = await mine.put(f"/v1/residents/{rid}/consents/surveys", json={"notice_version": notice})
        assert r.status_code == 200, r.text
    await eventually(lambda: _agrees_to_surveys(rid), timeout_s=60)
    async with client("activities", "resident", rid) as me:
        r = await me.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert r.status_code == 201, r.text
    async with client("enrolment", "resident", rid) as mine:
        r = await mine.delete(f"/v1/residents/{rid}/consents/surveys")
        assert r.status_code == 200, r.text
        assert not next(p for p in r.json()["purposes"] if p["purpose"] == "surveys")["granted"]

    async def withdrawn() -> bool | None:
        return not await _agrees_to_surveys(rid) or None

    await eventually(withdrawn, timeout_s=60)
    async with client("activities", "resident", rid) as me:
        r = await me.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 5})
        assert r.status_code == 403 and fields(r) == {"body.consent"}, r.text
