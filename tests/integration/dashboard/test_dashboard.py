"""The operators' dashboard in a real headless Chromium against the running scoring service.

The page signs in the way the service's auth mode says (/dashboard/config.json): at the identity
provider as a demo user when the services take its tokens, else with a pasted development token."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.dashboard import oidc_stack
from tests.integration.dashboard.browser import Browser, chromium
from tests.integration.scoring.events import attendance, send
from tests.support import ROOT, client, expired_token, producer, service_url, token, unique

pytestmark = pytest.mark.integration

ARTEFACTS = ROOT / ".local" / "artefacts"
LEAF = "implementation.participation_4w"
COMMUNITY = "xinnan"

# Page probes, run as function bodies in the page (arguments[i] are the extra arguments).
TWELVE_BARS = """const labels = document.querySelectorAll('#community-bars .bar-row .label');
const n = Array.from(labels).map(e => e.textContent);
return n.length === 12 && n"""
NUMERATOR_AT_LEAST = f"""const c = document.querySelector('#indicators tr[data-indicator="{LEAF}"] td.numerator');
const v = c && c.dataset.value !== undefined ? Number(c.dataset.value) : null;
return v !== null && v >= arguments[0] && v"""
AUTH_SHOWN = """const m = document.getElementById('auth-message');
if (document.getElementById('auth').hidden || m.dataset.status !== arguments[0]) return null;
return {board: !document.getElementById('board').hidden, message: m.textContent,
        drawn: document.querySelectorAll('#community-bars *').length,
        laid_out: document.getElementById('board').offsetParent !== null}"""


async def _open_as(browser: Browser, role: str, subject: str, query: str = "") -> None:
    """The dashboard signed in as `role`: through the provider's login form as its demo user, or
    with a development token in the address (which the page takes and removes)."""
    url = f"{service_url('scoring')}/dashboard"
    provider = oidc_stack.dashboard_issuer_creds(service_url("scoring"))
    if provider is None:
        await browser.open(f"{url}?token={token(role, subject)}{'&' + query if query else ''}")
        return
    await oidc_stack.sign_in(browser, service_url("scoring"), provider, f"demo-{role}")
    if query:  # the sign-in stays in the tab's sessionStorage across this navigation
        await browser.open(f"{url}?{query}")


async def _communities() -> list[dict]:
    async with client("scoring", "operator") as http:
        overview = (await http.get("/v1/index")).json()
    return [c for c in overview["communities"] if c["community_id"] != "street"]


async def test_page_is_public_but_every_data_call_needs_a_token():
    async with httpx.AsyncClient(base_url=service_url("scoring"), timeout=10) as http:
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for path in ("/v1/index", "/v1/index/street", f"/v1/index/{COMMUNITY}/rectification",
                     "/v1/index/street/history?days=90", "/v1/indicators", "/v1/honours?limit=10"):  # fmt: skip
            assert (await http.get(path)).status_code == 401, path
            forged = await http.get(path, headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"})
            assert forged.status_code == 401, path


async def test_without_a_valid_token_the_page_shows_no_data_and_says_why_in_both_languages():
    provider = oidc_stack.dashboard_issuer_creds(service_url("scoring"))
    async with chromium() as browser:
        await browser.open(f"{service_url('scoring')}/dashboard")
        state = await browser.wait_for(AUTH_SHOWN, "")
        assert state["board"] is False and state["drawn"] == 0
        # hidden, not only flagged so: the board's empty cards must not show under the sign-in
        assert state["laid_out"] is False
        if provider is not None:
            await _without_a_sign_in_under_the_provider(browser, provider)
            return
        assert "令牌" in state["message"]

        expired = expired_token()
        await browser.open(f"{service_url('scoring')}/dashboard?token={expired}")
        state = await browser.wait_for(AUTH_SHOWN, "401")
        assert "401" in state["message"] and "令牌" in state["message"]
        assert state["board"] is False and state["drawn"] == 0
        assert "token=" not in await browser.url()

        await browser.js("document.getElementById('lang').click()")
        message = await browser.js("return document.getElementById('auth-message').textContent")
        assert "401" in message and "token" in message.lower() and "令牌" not in message

        # Residents may read their own data through the API, but not the operators' dashboard.
        await browser.open(f"{service_url('scoring')}/dashboard?token={token('resident', unique('dash-r'))}")
        state = await browser.wait_for(AUTH_SHOWN, "403")
        assert "403" in state["message"] and state["board"] is False and state["drawn"] == 0


async def test_dashboard_shows_the_twelve_communities_and_moves_live_when_attendance_arrives():
    communities = await _communities()
    names_zh, names_en = [c["name_zh"] for c in communities], [c["name_en"] for c in communities]
    assert len(communities) == 12
    run = unique("dash")
    async with chromium() as browser:
        await _open_as(browser, "operator", run, f"community={COMMUNITY}")
        shown = await browser.wait_for(TWELVE_BARS)
        assert sorted(shown) == sorted(names_zh)
        assert "token=" not in await browser.url(), "the token must leave the address bar"
        before = await browser.wait_for(NUMERATOR_AT_LEAST, 0)
        # Survives only if the page is never reloaded.
        await browser.js("window.__noReload = true")

        activities = await producer("activities")
        try:
            await send(activities, *[attendance(f"{run}-r{i}", community=COMMUNITY, minutes=60) for i in range(3)])
        finally:
            await activities.stop()

        after = await browser.wait_for(NUMERATOR_AT_LEAST, before + 3, timeout_s=45)
        assert after >= before + 3
        assert await browser.js("return window.__noReload === true"), "the page reloaded"
        shown_total = await browser.js("return document.getElementById('street-total').textContent")
        assert shown_total not in ("", "–")
        await browser.screenshot(ARTEFACTS / "dashboard.png")

        await browser.js("document.getElementById('lang').click()")
        english = await browser.wait_for(TWELVE_BARS)
        assert sorted(english) == sorted(names_en)
        assert await browser.js("return document.documentElement.lang") == "en"
        await browser.screenshot(ARTEFACTS / "dashboard-en.png")

        # Clicking another community's bar switches the detail, radar and rectification list to it.
        other = next(c for c in communities if c["community_id"] != COMMUNITY)
        await browser.js(
            "document.querySelector(`#community-bars .bar-row[data-community='${arguments[0]}']`)"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            other["community_id"],
        )
        heading = await browser.wait_for(
            "const h = document.getElementById('rect-community').textContent;"
            "return h === arguments[0] && document.getElementById('detail-total').textContent.startsWith(h) && h",
            other["name_en"],
        )
        assert heading == other["name_en"]
        assert await browser.js("return document.getElementById('community-select').value") == other["community_id"]
        assert await browser.console_errors() == []


async def _without_a_sign_in_under_the_provider(browser: Browser, provider: dict[str, str]) -> None:
    """No session: the page asks for a sign-in and takes no pasted token; a resident signed in at
    the provider is refused (403) and sees no data."""
    message = await browser.js("return document.getElementById('auth-message').textContent")
    assert "登录" in message and await browser.js("return document.getElementById('auth-form').hidden")
    await browser.open(f"{service_url('scoring')}/dashboard?token={token('operator', unique('dash-op'))}")
    state = await browser.wait_for(AUTH_SHOWN, "")
    assert state["board"] is False and state["drawn"] == 0 and "token=" not in await browser.url()

    await browser.js("document.getElementById('lang').click()")
    message = await browser.js("return document.getElementById('auth-message').textContent")
    assert "sign in" in message.lower() and "登录" not in message
    await browser.js("document.getElementById('lang').click()")

    refused = await oidc_stack.sign_in(browser, service_url("scoring"), provider, "demo-resident", board=False)
    assert refused == "auth_403"
    state = await browser.wait_for(AUTH_SHOWN, "403")
    assert "403" in state["message"] and state["board"] is False and state["drawn"] == 0
