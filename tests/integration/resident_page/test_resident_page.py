"""The residents' mobile page (/m/ on enrolment) in a real headless Chromium at a phone's
viewport (360×740) against the running stack: a resident finds a course, enrols, is waitlisted,
is promoted when someone cancels, and sees it without reloading; the preference centre saves
with the field named on an error; the passport shows honours; basic accessibility; nothing
loaded from another origin. Screenshots go to .local/artefacts (as the dashboard's do)."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.events.catalogue import CourseCreated, HonourAwarded, SessionScheduled, VenueRegistered
from shared.events.envelope import envelop
from tests.integration.dashboard.browser import Browser, chromium
from tests.integration.enrolment.helpers import publish, register, session_known
from tests.integration.enrolment.test_sign_in import code_sent_to, db, resident_with_phone, spaced
from tests.integration.scoring.events import attendance, send
from tests.support import ROOT, client, eventually, producer, service_url, token, unique

pytestmark = pytest.mark.integration
__all__ = ["db"]  # the sign-in tests' fixture (it resets this machine's hourly budget of codes)

ARTEFACTS = ROOT / ".local" / "artefacts"
LEAD = Path("/tmp/ls/reports")  # the phone screenshot the lead's closing note shows
COMMUNITY = "fenghuang"
STORE = "learnstreet.resident"
TAB, ENTER = "\ue004", "\ue007"

# Page probes, run as function bodies in the page (arguments[i] are the extra arguments).
READY = "return document.body.dataset.ready === 'true'"
CARD = """const li = document.querySelector(`#sessions li[data-session="${arguments[0]}"]`);
if (!li) return null;
const mine = li.querySelector('.mine');
return {title: li.querySelector('h3').textContent, place: li.querySelector('.meta').textContent,
        seats: li.querySelector('.seats').textContent,
        status: mine ? mine.dataset.status : null, position: mine ? mine.dataset.position : null,
        badge: mine ? mine.textContent : null,
        button: (li.querySelector('button.enrol, button.cancel') || {}).className || null}"""
FOCUSED_ENROL = 'return document.activeElement.matches(`button.enrol[data-session="${arguments[0]}"]`)'
SIGN_IN_SHOWN = """const s = document.getElementById('signin');
return !s.hidden && document.getElementById('app').hidden
  && {message: document.getElementById('signin-message').textContent,
      data: document.querySelectorAll('#app li').length + (document.getElementById('email').value ? 1 : 0)}"""
# The sign-in with a message: after a refused token the form is already showing before the page's
# request comes back with 401 and says why, so waiting for the form alone can read no message yet.
SIGN_IN_SAYS_WHY = """const s = document.getElementById('signin');
const message = document.getElementById('signin-message').textContent;
return !s.hidden && document.getElementById('app').hidden && message
  && {message: message,
      data: document.querySelectorAll('#app li').length + (document.getElementById('email').value ? 1 : 0)}"""


def _for_the_lead(*names: str) -> None:
    LEAD.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(ARTEFACTS / name, LEAD / name.replace("resident-page", "h5"))


def _page() -> str:
    return f"{service_url('enrolment')}/m/"


async def _as(browser: Browser, resident_id: str, bearer: str | None = None, **extra) -> None:
    """The page signed in as the resident: the token the sign-in would keep, put in the tab's
    sessionStorage. The store is per origin, so the page is opened first, and left to finish its
    boot: WebDriver returns at the load event, before the page has fetched its config and read the
    store, and a boot still running would take the token stored here, send it, and on a 401 remove
    it before the page opened next could read it."""
    await browser.open(_page())
    await browser.wait_for(READY)
    stored = {"access_token": bearer or token("resident", resident_id), "resident_id": resident_id, **extra}
    await browser.js("sessionStorage.clear(); sessionStorage.setItem(arguments[0], JSON.stringify(arguments[1]))",
                     STORE, stored)  # fmt: skip
    await browser.open(_page())
    await browser.wait_for(READY)


async def _course_session(run: str, capacity: int) -> tuple[str, str, str]:
    """A venue, a course and a session of it in COMMUNITY, as activities publishes them; returns
    (session_id, zh title, en title) once enrolment knows the session."""
    venue, course, session = f"{run}-v", f"{run}-c", f"{run}-s"
    title_zh, title_en = f"书法入门 {run[-6:]}", f"Calligraphy {run[-6:]}"
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    await publish(
        VenueRegistered(venue_id=venue, community_id=COMMUNITY, name_zh="凤凰党群服务中心",
                        name_en="Fenghuang service centre", venue_type="party_mass_service_centre", capacity=40),
        CourseCreated(course_id=course, title_zh=title_zh, title_en=title_en, theme="traditional_culture"),
        SessionScheduled(session_id=session, course_id=course, venue_id=venue, community_id=COMMUNITY,
                         starts_at=starts, ends_at=starts + timedelta(hours=2), capacity=capacity),
    )  # fmt: skip
    await eventually(lambda: session_known(session))
    return session, title_zh, title_en


async def _residents(n: int, **overrides) -> list[str]:
    async with client("enrolment") as http:
        return [(await register(http, community_id=COMMUNITY, **overrides))["resident_id"] for _ in range(n)]


async def _find(browser: Browser, text: str) -> None:
    """Types into the search field as the resident does."""
    await browser.js("const s = document.getElementById('search'); s.value = ''; s.focus()")
    await browser.press(*text)


async def test_the_sessions_list_is_upcoming_and_open_to_enrolment_for_any_signed_in_resident():
    run = unique("h5l")
    session, title_zh, _ = await _course_session(run, capacity=2)
    [me] = await _residents(1)
    async with client("enrolment", "resident", me) as http:
        listed = (await http.get("/v1/sessions", params={"community_id": COMMUNITY, "q": run[-6:]})).json()
        assert [s["session_id"] for s in listed] == [session]
        [row] = listed
        assert row["course"] == {"zh-CN": title_zh, "en": f"Calligraphy {run[-6:]}"}
        assert row["venue"] == {"zh-CN": "凤凰党群服务中心", "en": "Fenghuang service centre"}
        assert (row["capacity"], row["confirmed"], row["waitlisted"], row["seats_left"]) == (2, 0, 0, 2)
        other = (await http.get("/v1/sessions", params={"community_id": "xinnan", "q": run[-6:]})).json()
        assert other == []
        bad = await http.get("/v1/sessions", params={"community_id": "atlantis"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "community_id"]
    async with client("enrolment", "community_worker", "w", community_id="xinnan") as http:
        refused = await http.get("/v1/sessions", params={"community_id": COMMUNITY})
        assert refused.status_code == 403
    async with httpx.AsyncClient(base_url=service_url("enrolment")) as http:
        assert (await http.get("/v1/sessions")).status_code == 401


async def test_a_waitlisted_resident_sees_the_promotion_without_reloading():
    run = unique("h5")
    session, title_zh, title_en = await _course_session(run, capacity=1)
    a, b = await _residents(2)
    async with chromium() as browser:
        await browser.phone(360, 740)
        # A finds the course and enrols with the keyboard alone: Tab reaches the enrol button.
        await _as(browser, a)
        # the page's viewport meta makes the layout as wide as the phone (else a 980 px desktop layout)
        assert await browser.js("return [window.innerWidth, window.innerHeight]") == [360, 740]
        await browser.wait_for("return document.getElementById('community').value === arguments[0]", COMMUNITY)
        await _find(browser, run[-6:])
        card = await browser.wait_for(CARD, session)
        assert card["title"] == title_zh and "凤凰党群服务中心" in card["place"] and "1" in card["seats"]
        await browser.js("document.activeElement.blur(); window.focus()")
        for _ in range(30):
            await browser.press(TAB)
            if await browser.js(FOCUSED_ENROL, session):
                break
        else:
            raise AssertionError("Tab never reached the enrol button")
        await browser.press(ENTER)
        card = await browser.wait_for(
            "const li = document.querySelector(`#sessions li[data-session=\"${arguments[0]}\"] .mine`);"
            "return li && li.dataset.status", session)  # fmt: skip
        assert card == "confirmed"
        await browser.screenshot(ARTEFACTS / "resident-page-confirmed.png")

        # B, on the same phone: the session is full, B joins the waitlist at position 1.
        await _as(browser, b)
        await _find(browser, title_en.split()[-1])
        card = await browser.wait_for(CARD, session)
        assert card["status"] is None and "enrol" in card["button"]
        await browser.js(
            'document.querySelector(`#sessions li[data-session="${arguments[0]}"] button.enrol`).click()', session
        )
        waiting = await browser.wait_for(
            'const m = document.querySelector(`#sessions li[data-session="${arguments[0]}"] .mine`);'
            "return m && m.dataset.status === 'waitlisted' && {position: m.dataset.position, text: m.textContent}",
            session,
        )
        assert waiting == {"position": "1", "text": "候补第 1 位"}
        await browser.js("window.__noReload = true")
        await browser.screenshot(ARTEFACTS / "resident-page-waitlisted.png")

        # A cancels through the API; B's open page turns to confirmed by itself.
        async with client("enrolment", "resident", a) as http:
            [enrolment] = [e for e in (await http.get(f"/v1/residents/{a}/enrolments")).json()
                           if e["session_id"] == session]  # fmt: skip
            cancelled = await http.delete(f"/v1/enrolments/{enrolment['enrolment_id']}")
        assert cancelled.status_code == 200 and cancelled.json()["promoted"][0]["resident_id"] == b
        promoted = await browser.wait_for(
            'const m = document.querySelector(`#sessions li[data-session="${arguments[0]}"] .mine`);'
            "return m && m.dataset.status === 'confirmed' && {text: m.textContent,"
            " notice: document.getElementById('notice').textContent}",
            session,
            timeout_s=20,
        )
        assert promoted["text"] == "已报名" and title_zh in promoted["notice"]
        shown = await browser.js("return document.getElementById('app').textContent")
        assert "null" not in shown and "undefined" not in shown, "a missing value written out"
        assert await browser.js("return window.__noReload === true"), "the page reloaded"
        # The same enrolment on "my enrolments", without reloading either.
        await browser.js("document.getElementById('tab-btn-mine').click()")
        mine = await browser.wait_for(
            'const li = document.querySelector(`#enrolments li[data-session="${arguments[0]}"]`);'
            "return li && {title: li.querySelector('h3').textContent,"
            " status: li.querySelector('.mine').dataset.status}",
            session,
        )
        assert mine == {"title": title_zh, "status": "confirmed"}
        await browser.js("document.getElementById('tab-btn-courses').click()")
        await browser.wait_for(CARD, session)
        await browser.screenshot(ARTEFACTS / "resident-page-promoted.png")
        await browser.js("document.getElementById('lang').click()")
        english = await browser.wait_for(
            "const m = document.querySelector(`#sessions li[data-session=\"${arguments[0]}\"] .mine`);"
            "return document.documentElement.lang === 'en' && m && m.textContent", session)  # fmt: skip
        assert english == "Confirmed"
        await browser.screenshot(ARTEFACTS / "resident-page-promoted-en.png")
        assert await browser.console_errors() == []
    _for_the_lead("resident-page-promoted.png", "resident-page-waitlisted.png")


# The colour of text and the first opaque background behind it, as the browser computed them.
CONTRAST = """function rgb(s) {
  const m = s.match(/[\\d.]+/g).map(Number);
  return {c: m.slice(0, 3), a: m.length > 3 ? m[3] : 1};
}
function lum(c) {  // WCAG 2 relative luminance
  const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function bg(e) {
  for (; e; e = e.parentElement) { const b = rgb(getComputedStyle(e).backgroundColor); if (b.a > 0) return b.c; }
  return [255, 255, 255];
}
const out = {};
for (const sel of arguments[0]) {
  const e = document.querySelector(sel);
  if (!e) { out[sel] = null; continue; }
  const [l1, l2] = [lum(rgb(getComputedStyle(e).color).c), lum(bg(e))].sort((x, y) => y - x);
  out[sel] = Math.round((l1 + 0.05) / (l2 + 0.05) * 100) / 100;
}
return out;"""
UNLABELLED = """return [...document.querySelectorAll('input, select, textarea')]
  .filter(i => i.type !== 'hidden' && i.labels.length === 0 && !i.getAttribute('aria-label'))
  .map(i => i.id || i.name)"""


async def test_accessibility_labels_contrast_and_language():
    run = unique("h5a")
    session, _, _ = await _course_session(run, capacity=1)
    [a, b] = await _residents(2)
    async with client("enrolment") as http:
        assert (await http.post(f"/v1/sessions/{session}/enrolments", json={"resident_id": a})).status_code == 201
        assert (await http.post(f"/v1/sessions/{session}/enrolments", json={"resident_id": b})).status_code == 201
    async with chromium() as browser:
        await browser.phone(360, 740)
        await browser.open(_page())
        await browser.wait_for(READY)
        assert await browser.js(UNLABELLED) == []  # the sign-in form
        await _as(browser, b)
        await _find(browser, run[-6:])
        await browser.wait_for("return document.querySelector('#sessions li .mine[data-status=waitlisted]')")
        for tab in ("courses", "prefs", "passport", "mine"):
            await browser.js(f"document.getElementById('tab-btn-{tab}').click()")
            assert await browser.js(UNLABELLED) == [], tab
        await browser.js("document.getElementById('tab-btn-courses').click()")
        await browser.wait_for(CARD, session)
        selectors = [
            "body",
            "#sessions li h3",
            "#sessions li .meta",
            "#sessions li .seats",
            ".mine[data-status=waitlisted]",
            ".top h1",
            "#lang",
            "#tabs button[aria-selected=true]",
            "#tabs button[aria-selected=false]",
            "#sessions li button",
            "label[for=community]",
        ]
        ratios = await browser.js(CONTRAST, selectors)
        low = {sel: r for sel, r in ratios.items() if r is None or r < 4.5}
        assert low == {}, f"text below 4.5:1 (or missing): {low}"
        # Nothing is wider than the phone: no sideways scrolling at 360 px.
        assert await browser.js("return document.documentElement.scrollWidth") <= 360

        assert await browser.js("return document.documentElement.lang") == "zh-CN"
        await browser.js("document.getElementById('lang').click()")
        switched = await browser.js(
            "return [document.documentElement.lang, document.getElementById('tab-btn-mine').textContent]"
        )
        assert switched == ["en", "My enrolments"]
        await browser.js("document.getElementById('lang').click()")
        assert await browser.js("return document.documentElement.lang") == "zh-CN"


async def test_the_page_loads_nothing_from_another_origin():
    async with httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10) as http:
        page = await http.get("/m/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    [me] = await _residents(1)
    async with chromium() as browser:
        await browser.phone()
        await _as(browser, me)
        for tab in ("courses", "mine", "passport", "prefs"):
            await browser.js(f"document.getElementById('tab-btn-{tab}').click()")
        await browser.wait_for("return document.querySelector('#categories input') !== null")
        urls = await browser.js("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
        origin = urlsplit(service_url("enrolment"))
        foreign = [u for u in urls if urlsplit(u).netloc != origin.netloc and not u.startswith("data:")]
        assert foreign == [], foreign
        assert any("/v1/sessions" in u for u in urls) and any("/m/assets/app.js" in u for u in urls)
        # A CSP violation or a failed load would be logged as an error.
        assert await browser.console_errors() == []


async def test_the_preference_centre_saves_and_names_the_field_of_an_error():
    [me] = await _residents(1, phone="13900000000", consent=True)
    async with chromium() as browser:
        await browser.phone()
        await _as(browser, me)
        await browser.js("document.getElementById('tab-btn-prefs').click()")
        await browser.wait_for("return document.getElementById('consent').checked")
        await browser.wait_for("return document.getElementById('purpose-surveys') !== null")
        # E-mail as the channel without an address: refused at the e-mail field, nothing saved.
        await browser.js("document.getElementById('channel-email').click();"
                         "document.getElementById('save-prefs').click()")  # fmt: skip
        error = await browser.wait_for(
            "const e = document.getElementById('err-email');"
            "const invalid = document.getElementById('email').getAttribute('aria-invalid') === 'true';"
            "return !e.hidden && invalid && e.textContent"
        )
        assert "邮箱" in error
        await browser.screenshot(ARTEFACTS / "resident-page-preferences-error.png")
        await browser.js(
            "document.getElementById('email').value = 'me@residents.example';"
            "document.getElementById('cat-promotions').click();"
            "document.getElementById('own-quiet').click();"
            "document.getElementById('quiet-start').value = '21:30';"
            "document.getElementById('quiet-end').value = '07:00';"
            "document.getElementById('language').value = 'en';"
            "document.getElementById('purpose-surveys').click();"
            "document.getElementById('save-prefs').click()"
        )
        saved = await browser.wait_for("const m = document.getElementById('prefs-message');"
                                       "return m.dataset.kind === 'ok' && m.textContent")  # fmt: skip
        assert saved == "已保存。"
    async with client("enrolment", "resident", me) as http:
        got = (await http.get(f"/v1/residents/{me}")).json()
    assert (got["preferred_channel"], got["email"], got["opted_out_categories"]) == (
        "email", "me@residents.example", ["promotions"],
    )  # fmt: skip
    assert (got["quiet_hours_start"], got["quiet_hours_end"], got["language"], got["consent"]) == (
        "21:30", "07:00", "en", True,
    )  # fmt: skip
    # the surveys purpose of the privacy notice, agreed on the page under its current version
    async with client("enrolment", "resident", me) as http:
        consents = (await http.get(f"/v1/residents/{me}/consents")).json()
    assert {p["purpose"] for p in consents["purposes"] if p["granted"]} == {"notifications", "surveys"}
    assert consents["history"][-1]["notice_version"] == consents["notice_version"]
    assert consents["history"][-1]["recorded_by"] == "resident"


async def test_the_passport_shows_learning_and_honours_with_their_downloads():
    [me] = await _residents(1, consents=["learning_record"])  # the passport is served with it (ADR 0019)
    run = unique("h5p")
    kafka = await producer("activities")
    try:
        await send(kafka, attendance(me, community=COMMUNITY, minutes=90, course_id=f"{run}-c"))
    finally:
        await kafka.stop()
    honour = f"{run}-h"
    kafka = await producer("scoring")
    try:
        await send(kafka, envelop(HonourAwarded(honour_id=honour, kind="learning_star", period="2026",
                                                recipient_kind="resident", recipient_id=me, community_id=COMMUNITY),
                                  source="learnstreet/scoring"))  # fmt: skip
    finally:
        await kafka.stop()

    async def recorded():
        async with client("enrolment", "resident", me) as http:
            body = (await http.get(f"/v1/residents/{me}/passport")).json()
        return body.get("attendance") and body.get("honours") and body

    await eventually(recorded, timeout_s=30)
    async with chromium() as browser:
        await browser.phone()
        await _as(browser, me)
        await browser.js("document.getElementById('tab-btn-passport').click()")
        shown = await browser.wait_for(
            "const h = document.querySelector(`#honours li[data-honour=\"${arguments[0]}\"]`);"
            "const y = document.querySelector('#years li');"
            "return h && y && {honour: h.querySelector('h3').textContent,"
            " state: h.querySelector('.badge').dataset.state,"
            " credential: (h.querySelector('button.download') || {}).dataset,"
            " year: y.querySelector('h3').textContent, certificate: y.querySelector('button.download').dataset.path,"
            " attended: document.querySelectorAll('#attendance li').length}",
            honour,
        )  # fmt: skip
        await browser.screenshot(ARTEFACTS / "resident-page-passport.png")
    assert shown["honour"] == "百姓学习之星" and shown["state"] == "awarded"
    assert shown["credential"]["path"] == f"/v1/residents/{me}/credentials/{honour}"
    assert "1.5 小时" in shown["year"] and shown["attended"] == 1
    # What the buttons download is served to the resident's token.
    async with client("enrolment", "resident", me) as http:
        assert (await http.get(shown["credential"]["path"])).status_code == 200
        assert (await http.get(shown["certificate"])).status_code == 200


async def test_without_a_valid_token_the_page_asks_for_a_sign_in_and_shows_no_data():
    [me] = await _residents(1)
    async with chromium() as browser:
        await browser.phone()
        await browser.open(_page())
        state = await browser.wait_for(SIGN_IN_SHOWN)
        assert state["data"] == 0
        assert await browser.js("return document.getElementById('phone').labels[0].textContent") == "手机号"
        # A token the page holds as unexpired but the service refuses (401): back to the sign-in.
        await _as(browser, me, bearer="eyJhbGciOiJIUzI1NiJ9.e30.x", expires_at=4102444800000)
        state = await browser.wait_for(SIGN_IN_SAYS_WHY)
        assert state["data"] == 0 and "过期" in state["message"]
        assert await browser.js("return sessionStorage.getItem(arguments[0])", STORE) is None
        # A token past its expiry is not even tried.
        await _as(browser, me, expires_at=1000)
        state = await browser.wait_for(SIGN_IN_SHOWN)
        assert state["data"] == 0
        # A token that runs out while the page is open: the page goes back to the sign-in by itself.
        # (10 s of life: on a loaded machine the page may take seconds to show the app at all)
        await _as(browser, me, expires_at=int(time.time() * 1000) + 10_000)
        await browser.wait_for("return !document.getElementById('app').hidden", timeout_s=9)
        state = await browser.wait_for(SIGN_IN_SAYS_WHY, timeout_s=30)
        assert "过期" in state["message"] and state["data"] == 0


async def test_a_resident_signs_in_with_the_code_sent_by_sms_and_lands_on_their_courses(db):
    resident_id, number = await resident_with_phone()
    async with chromium() as browser:
        await browser.phone()
        await browser.open(_page())
        await browser.wait_for(SIGN_IN_SHOWN)
        await browser.js("document.getElementById('phone').focus()")
        await browser.press(*spaced(number), ENTER)
        sent = await browser.wait_for(
            "const f = document.getElementById('token-form');"
            "const m = document.getElementById('signin-message');"
            "return !f.hidden && document.activeElement.id === 'code' && m.textContent"
        )
        assert "验证码已发送" in sent and "5 分钟" in sent
        await browser.screenshot(ARTEFACTS / "resident-page-sign-in.png")
        code = await code_sent_to(number)

        wrong = "000000" if code != "000000" else "111111"
        await browser.press(*wrong, ENTER)
        refused = await browser.wait_for(
            "const m = document.getElementById('signin-message'); return m.dataset.status === '401' && m.textContent"
        )
        assert "不正确" in refused and await browser.js("return document.getElementById('app').hidden")

        await browser.js("const c = document.getElementById('code'); c.value = ''; c.focus()")
        await browser.press(*code, ENTER)
        await browser.wait_for(
            "const shown = !document.getElementById('app').hidden;"
            "return shown && document.getElementById('community').value === arguments[0]",
            "pinghu",  # where resident_with_phone registers them
        )
        kept = await browser.js("return JSON.parse(sessionStorage.getItem(arguments[0]))", STORE)
        assert kept["resident_id"] == resident_id and kept["expires_at"] > 0
        # The token came from the sign-in, so the courses list was read with it.
        assert await browser.wait_for("return document.querySelectorAll('#sessions li').length > 0")
