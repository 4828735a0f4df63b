"""Surveys (问卷) and session ratings (满意度) on the residents' phone page, in a real headless
Chromium at a phone's viewport against the running stack. The page is served by enrolment and
calls activities on activities' own origin (CORS, ENROLMENT_ACTIVITIES_PUBLIC_URL): a resident
who has not agreed to the notice's `surveys` purpose opens the surveys tab, answers a survey an
operator published, is asked for the agreement in the notice's words, agrees, and the answer
reaches the operator's results; a survey answered meanwhile elsewhere shows as answered (409); a
session the resident attended is rated once. After a reload the answered surveys show as answered
with their date and the rated session its score (read back from activities, issue 15).
Activities admits the page's origin and no other."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.activities.helpers import checkin, make_place, now, outcome, send_checkins
from tests.integration.activities.test_surveys import QUESTIONS, answers
from tests.integration.dashboard.browser import chromium
from tests.integration.resident_page.test_resident_page import (
    ARTEFACTS,
    COMMUNITY,
    ENTER,
    READY,
    TAB,
    _as,
    _page,
    _residents,
)
from tests.support import client, eventually, service_url, unique

pytestmark = pytest.mark.integration

CARD = """const li = document.querySelector(`#surveys li[data-survey="${arguments[0]}"]`);
if (!li) return null;
const badge = li.querySelector('.badge');
return {title: li.querySelector('h3').textContent, form: li.querySelector('form') !== null,
        state: badge ? badge.dataset.state : null, badge: badge ? badge.textContent : null,
        inputs: li.querySelectorAll('input').length, texts: li.querySelectorAll('textarea').length}"""
CONSENT_ASKED = """const c = document.getElementById('survey-consent');
return !c.hidden && document.activeElement.id === 'survey-consent-agree'
  && {words: document.getElementById('survey-consent-words').textContent,
      version: document.getElementById('survey-consent-version').textContent}"""
# an answered survey's card: its badge and the date the answer was sent (from activities, after a reload too)
ANSWERED = """const li = document.querySelector(`#surveys li[data-survey="${arguments[0]}"]`);
const b = li && li.querySelector('.badge'), d = li && li.querySelector('[data-answered-at]');
return b && d && {state: b.dataset.state, text: b.textContent, at: d.dataset.answeredAt, date: d.textContent,
                  form: li.querySelector('form') !== null}"""
UNLABELLED = """return [...document.querySelectorAll('#tab-surveys input, #tab-surveys textarea')]
  .filter(i => i.labels.length === 0 && !i.getAttribute('aria-label')).map(i => i.id)"""


async def _publish(run: str, questions: list[dict]) -> str:
    survey_id = f"{run}-survey"
    async with client("activities") as op:
        r = await op.post("/v1/surveys", json={"survey_id": survey_id, "title_zh": f"学习需求调查 {run[-6:]}",
                                               "title_en": f"Learning needs {run[-6:]}", "questions": questions,
                                               "audience": {"community_ids": [COMMUNITY]}})  # fmt: skip
        assert r.status_code == 201, r.text
    return survey_id


async def _open_for(resident_id: str, *survey_ids: str) -> bool:
    """Activities knows the resident (from enrolment's registration) and addresses the surveys to them."""
    async with client("activities", "resident", resident_id) as me:
        r = await me.get("/v1/surveys", params={"open": "true"})
    return r.status_code == 200 and set(survey_ids) <= {s["survey_id"] for s in r.json()}


async def test_a_resident_agrees_to_surveys_on_the_page_answers_and_the_answer_is_in_the_results():
    run = unique("h5s")
    [me] = await _residents(1)  # registered at enrolment, no surveys consent
    survey_id = await _publish(run, QUESTIONS)
    other_id = await _publish(f"{run}b", QUESTIONS[:1])
    await eventually(lambda: _open_for(me, survey_id, other_id), timeout_s=30)
    async with httpx.AsyncClient(base_url=service_url("enrolment")) as http:
        notice = (await http.get("/v1/privacy-notice")).json()

    async with chromium() as browser:
        await browser.phone(360, 740)
        await _as(browser, me)
        await browser.js("document.getElementById('tab-btn-surveys').click()")
        card = await browser.wait_for(CARD, survey_id)
        assert card["title"] == f"学习需求调查 {run[-6:]}" and card["form"] and card["state"] is None
        assert card["inputs"] == 2 + 3 + 5 and card["texts"] == 1
        assert await browser.js(UNLABELLED) == []
        assert await browser.js("return document.documentElement.scrollWidth") <= 360
        base = await browser.js(
            'return document.querySelector(`#surveys form[data-survey="${arguments[0]}"] [data-q]`)'
            ".querySelector('input').id.replace(/-0-0$/, '')",
            survey_id,
        )
        # Sending with a required question unanswered: the page names the question, nothing is sent.
        await browser.js(f"document.getElementById('{base}-0-0').click()")
        await browser.js("document.querySelector(`#surveys form[data-survey=\"${arguments[0]}\"] button`).click()",
                         survey_id)  # fmt: skip
        missing = await browser.wait_for(
            f"const e = document.getElementById('{base}-1-err'); return !e.hidden && e.textContent"
        )
        assert missing == "请回答此题。"
        # single: "often"; multiple: morning and evening; scale: 4, by the keyboard; free text typed
        await browser.js(
            f"document.getElementById('{base}-1-0').click(); document.getElementById('{base}-1-2').click()"
        )
        await browser.js(f"document.getElementById('{base}-2-3').focus()")
        await browser.press(" ")
        assert await browser.js(f"return document.getElementById('{base}-2-3').checked")
        await browser.js(f"document.getElementById('{base}-3').focus()")
        text = f"周末多开课 {run[-6:]}"
        await browser.press(*text)
        await browser.press(TAB)  # from the text to the send button
        assert await browser.js("return document.activeElement.type === 'submit'")
        await browser.press(ENTER)

        # Not agreed to surveys: activities answers 403 naming consent; the page asks in the notice's words.
        asked = await browser.wait_for(CONSENT_ASKED)
        assert asked["words"] == notice["purposes"]["surveys"]["zh-CN"]
        assert notice["version"] in asked["version"]
        await browser.screenshot(ARTEFACTS / "resident-page-survey-consent.png")
        await browser.press(ENTER)  # the agree button has the focus
        answered = await browser.wait_for(
            "const b = document.querySelector(`#surveys li[data-survey=\"${arguments[0]}\"] .badge`);"
            "return b && {state: b.dataset.state, text: b.textContent}", survey_id, timeout_s=30)  # fmt: skip
        assert answered == {"state": "answered", "text": "已提交，谢谢参与"}
        assert await browser.js("return document.getElementById('survey-consent').hidden")
        await browser.screenshot(ARTEFACTS / "resident-page-survey-answered.png")

        # The other survey is answered elsewhere meanwhile: sending it from the page is a 409, shown as answered.
        async with client("activities", "resident", me) as api:
            r = await api.post(f"/v1/surveys/{other_id}/responses",
                               json={"answers": [{"question_id": "q1", "value": "rarely"}]})  # fmt: skip
            assert r.status_code == 201, r.text
        other = await browser.js(CARD, other_id)
        assert other["form"], other
        await browser.js(
            "const f = document.querySelector(`#surveys form[data-survey=\"${arguments[0]}\"]`);"
            "f.querySelector('input').click(); f.querySelector('button').click()", other_id)  # fmt: skip
        shown = await browser.wait_for(
            "const b = document.querySelector(`#surveys li[data-survey=\"${arguments[0]}\"] .badge`);"
            "return b && b.dataset.state", other_id)  # fmt: skip
        assert shown == "answered"
        # the prefs tab shows the agreement given on the surveys tab
        await browser.js("document.getElementById('tab-btn-prefs').click()")
        assert await browser.wait_for("return document.getElementById('purpose-surveys').checked")
        await browser.js("document.getElementById('lang').click(); document.getElementById('tab-btn-surveys').click()")
        english = await browser.wait_for(
            "const b = document.querySelector(`#surveys li[data-survey=\"${arguments[0]}\"] .badge`);"
            "return document.documentElement.lang === 'en' && b && b.textContent", survey_id)  # fmt: skip
        assert english == "Sent; thank you"

        # Reloaded (the language and the sign-in kept): both surveys are still answered, with the
        # date activities recorded, and no form comes back.
        async with client("activities", "resident", me) as api:
            sent = {
                r["survey_id"]: r["answered_at"] for r in (await api.get(f"/v1/residents/{me}/survey-responses")).json()
            }
        assert set(sent) == {survey_id, other_id}
        await browser.console_errors()  # the refusals above (403 consent, 409) were the point: not counted
        await browser.open(_page())
        await browser.wait_for(READY)
        await browser.js("document.getElementById('tab-btn-surveys').click()")
        for sid in (survey_id, other_id):
            card = await browser.wait_for(ANSWERED, sid)
            assert card["state"] == "answered" and card["text"] == "Sent; thank you" and not card["form"], card
            assert card["at"] == sent[sid] and card["date"].startswith("Sent on "), card
        await browser.js("document.getElementById('lang').click()")
        card = await browser.wait_for(ANSWERED, survey_id)
        assert card["text"] == "已提交，谢谢参与" and card["date"].startswith("提交于"), card
        await browser.screenshot(ARTEFACTS / "resident-page-survey-answered-reloaded.png")
        assert await browser.console_errors() == []

    # the answer, as the page sent it, is in the operator's results; the agreement is the resident's own
    async with client("activities") as op:
        results = (await op.get(f"/v1/surveys/{survey_id}/results")).json()
    [row] = [c for c in results["communities"] if c["community_id"] == COMMUNITY]
    assert row["respondents"] == 1
    q = row["questions"]
    assert q["q1"]["options"]["often"] == 1 and q["q2"]["options"] == {"am": 1, "pm": 0, "eve": 1}
    assert q["q3"]["points"]["4"] == 1 and q["q4"]["texts"] == [text]
    async with client("enrolment", "resident", me) as http:
        consents = (await http.get(f"/v1/residents/{me}/consents")).json()
    assert {p["purpose"] for p in consents["purposes"] if p["granted"]} == {"surveys"}
    assert (consents["history"][-1]["notice_version"], consents["history"][-1]["recorded_by"]) == (
        notice["version"], "resident",
    )  # fmt: skip
    async with client("activities", "resident", me) as api:
        again = await api.post(f"/v1/surveys/{survey_id}/responses", json=answers())
        assert again.status_code == 409, again.text
        assert not await _open_for(me, survey_id)


async def test_a_resident_rates_a_session_they_attended_once_on_the_page():
    [me] = await _residents(1, consents=["surveys", "learning_record"])  # the passport lists what they attended
    place = await make_place(starts_at=now() - timedelta(minutes=5), theme="arts")
    scan = checkin(place, me, now())
    await send_checkins(scan)
    assert (await outcome(scan["checkin_id"]))["outcome"] == "recorded"

    async def in_passport():
        async with client("enrolment", "resident", me) as http:
            body = (await http.get(f"/v1/residents/{me}/passport")).json()
        return any(a["session_id"] == place.session_id for a in body.get("attendance", []))

    await eventually(in_passport, timeout_s=30)
    card = '#ratings li[data-rating-session="${arguments[0]}"]'
    async with chromium() as browser:
        await browser.phone(360, 740)
        await _as(browser, me)
        await browser.js("document.getElementById('tab-btn-surveys').click()")
        await browser.wait_for(f"return document.querySelector(`{card} form`)", place.session_id)
        assert await browser.js(UNLABELLED) == []
        # no score chosen: named, nothing sent
        await browser.js(f"document.querySelector(`{card} button`).click()", place.session_id)
        need = await browser.wait_for(
            f"const e = document.querySelector(`{card} .error`); return !e.hidden && e.textContent", place.session_id
        )
        assert need == "请选择 1 到 5 分。"
        await browser.js(
            f"const li = document.querySelector(`{card}`);"
            "li.querySelector('input[value=\"4\"]').click(); li.querySelector('textarea').value = '老师讲得清楚';"
            "li.querySelector('button').click()", place.session_id)  # fmt: skip
        rated = await browser.wait_for(
            f"const b = document.querySelector(`{card} .badge`);"
            "return b && {score: b.dataset.score, text: b.textContent}",
            place.session_id,
        )
        assert rated == {"score": "4", "text": "您的评分：4 / 5"}
        await browser.screenshot(ARTEFACTS / "resident-page-rating.png")
        # Reloaded: the session shows its score (from activities), not the form again.
        await browser.open(_page())
        await browser.wait_for(READY)
        await browser.js("document.getElementById('tab-btn-surveys').click()")
        again = await browser.wait_for(
            f"const li = document.querySelector(`{card}`), b = li && li.querySelector('.badge');"
            "return b && {score: b.dataset.score, text: b.textContent, form: li.querySelector('form') !== null}",
            place.session_id,
        )
        assert again == {"score": "4", "text": "您的评分：4 / 5", "form": False}
        # Only enrolment's origin, and activities' for the API calls: nothing else, no CSP violation.
        loads = await browser.js(
            "return [[location.href, 'navigation'],"
            " ...performance.getEntriesByType('resource').map(e => [e.name, e.initiatorType])]"
        )
        mine, api = urlsplit(service_url("enrolment")).netloc, urlsplit(service_url("activities")).netloc
        assert [u for u, _ in loads if urlsplit(u).netloc not in (mine, api)] == []
        assert {kind for u, kind in loads if urlsplit(u).netloc == api} == {"fetch"}
        assert any("/v1/surveys" in u for u, _ in loads if urlsplit(u).netloc == api)
        assert await browser.console_errors() == []
    async with client("activities", "resident", me) as api:
        r = await api.post(f"/v1/sessions/{place.session_id}/satisfaction", json={"score": 1})
        assert r.status_code == 409, r.text


async def test_activities_admits_the_page_origin_and_no_other():
    page = service_url("enrolment")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with httpx.AsyncClient(base_url=service_url("activities"), timeout=10) as http:
        r = await http.options("/v1/surveys/any/responses", headers={"Origin": page, **preflight})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == page
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        # a refusal is readable by the page too (it tells 401 from a network failure)
        r = await http.get("/v1/surveys", headers={"Origin": page})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == page
        for origin in ("http://evil.example", "http://127.0.0.1:1"):
            r = await http.options("/v1/surveys/any/responses", headers={"Origin": origin, **preflight})
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers, origin
            r = await http.get("/v1/surveys", headers={"Origin": origin})
            assert "access-control-allow-origin" not in r.headers, origin
    async with httpx.AsyncClient(base_url=page, timeout=10) as http:
        config = (await http.get("/m/config.json")).json()
        csp = (await http.get("/m/")).headers["content-security-policy"]
    assert config["activities_url"] == service_url("activities")
    assert f"connect-src 'self' {service_url('activities')};" in csp


async def test_the_passport_tab_asks_for_the_learning_record_agreement_instead_of_failing():
    """The passport is served with the notice's learning_record purpose only (ADR 0019): the page
    does not ask for it without the agreement (no refused request), it offers the agreement."""
    [me] = await _residents(1)
    async with httpx.AsyncClient(base_url=service_url("enrolment")) as http:
        notice = (await http.get("/v1/privacy-notice")).json()
    async with chromium() as browser:
        await browser.phone(360, 740)
        await _as(browser, me)
        await browser.wait_for("return document.getElementById('purpose-learning_record') !== null")
        await browser.js("document.getElementById('tab-btn-passport').click()")
        words = await browser.wait_for(
            "const c = document.getElementById('record-consent');"
            "return !c.hidden && document.getElementById('passport-record').hidden"
            " && document.getElementById('record-consent-words').textContent"
        )
        assert words == notice["purposes"]["learning_record"]["zh-CN"]
        await browser.js("document.getElementById('record-consent-agree').click()")
        await browser.wait_for(
            "return document.getElementById('record-consent').hidden"
            " && !document.getElementById('passport-record').hidden"
            " && !document.getElementById('years-empty').hidden"
        )
        assert await browser.js("return document.getElementById('purpose-learning_record').checked")
        assert await browser.console_errors() == []
    async with client("enrolment", "resident", me) as http:
        consents = (await http.get(f"/v1/residents/{me}/consents")).json()
    assert {p["purpose"] for p in consents["purposes"] if p["granted"]} == {"learning_record"}
