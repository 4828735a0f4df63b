"""The dashboard signs in at the real identity provider (the local Keycloak, realm `learnstreet`)
with the authorization-code flow and PKCE, in a real headless Chromium, and shows each person the
selection and rectification screens of their role: a community worker their community's
candidates with approve / reject, an operator the street's review, objections and the index.

The scoring service is the shared stack's when it runs with Keycloak as its issuer, else the
working tree's scoring served in this process with that issuer (oidc_stack.py). The candidates
are a knowledge competition's places, set up through the API with the demo operator's token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.integration.dashboard import oidc_stack
from tests.integration.dashboard.browser import Browser, chromium
from tests.integration.dashboard.oidc_stack import BOARD, KEYCLOAK_FORM
from tests.support import ROOT

pytestmark = pytest.mark.integration

ARTEFACTS = ROOT / ".local" / "artefacts"
YEAR = str(datetime.now(UTC).astimezone().year)
WORKER, WORKER_COMMUNITY, OTHER_COMMUNITY = "demo-worker-bainikeng", "bainikeng", "shanxia"

ROWS = """return Array.from(document.querySelectorAll('#selection-table tbody tr[data-honour]'))
  .map(r => ({id: r.dataset.honour, state: r.dataset.state, community: r.dataset.community}))"""
ROW_STATE = """const r = document.querySelector(`#selection-table tr[data-honour='${arguments[0]}']`);
return r && r.dataset.state === arguments[1] && r.dataset.state"""
TASKS = """return Array.from(document.querySelectorAll('#tasks tbody tr[data-task]')).map(r => ({id: r.dataset.task,
  community: r.dataset.community, owner: r.dataset.owner,
  overdue: r.classList.contains('overdue')}))"""
SESSION = "return JSON.parse(sessionStorage.getItem('learnstreet.dashboard.oidc.session') || 'null')"


@pytest.fixture(scope="module")
def provider() -> Iterator[dict[str, str]]:
    with oidc_stack.keycloak() as creds:
        yield creds


@pytest.fixture(scope="module")
def scoring(provider: dict[str, str]) -> Iterator[str]:
    with oidc_stack.scoring_with_issuer(provider) as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def _api(scoring: str, provider: dict[str, str], username: str) -> httpx.AsyncClient:
    token = oidc_stack.access_token(provider, username)
    return httpx.AsyncClient(base_url=scoring, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)


async def _candidates(scoring: str, provider: dict[str, str], communities: list[str]) -> list[str]:
    """Fresh candidates (nominated) of one new competition, one place per community given."""
    competition = f"kc-dash-{uuid.uuid4().hex[:10]}"
    async with _api(scoring, provider, "demo-operator") as op:
        r = await op.post("/v1/competitions", json={"competition_id": competition, "name_zh": "看板测试知识竞赛",
                                                      "name_en": "dashboard test quiz", "rounds": 1,
                                                      "places": len(communities)})  # fmt: skip
        assert r.status_code == 201, r.text
        results = [{"place": i + 1, "resident_id": f"{competition}-r{i}", "community_id": c}
                   for i, c in enumerate(communities)]  # fmt: skip
        body = {"period": YEAR, "round": 1, "results": results}
        r = await op.post(f"/v1/competitions/{competition}/results", json=body)
        assert r.status_code == 201, r.text
        return [h["honour_id"] for h in r.json()["nominated"]]


async def _overdue_task(scoring: str, provider: dict[str, str], community: str) -> str:
    """A pending rectification task of `community` past its deadline (opened, or its deadline moved)."""
    # two days back: overdue in the street's calendar whatever this host's time zone
    deadline = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    async with _api(scoring, provider, "demo-operator") as op:
        items = (await op.get(f"/v1/index/{community}/rectification")).json()["items"]
        for item in items:
            task = item["task"]
            if task is None:
                body = {"community_id": community, "indicator_id": item["indicator_id"], "owner_kind": "community",
                        "owner": community, "deadline": deadline}  # fmt: skip
                r = await op.post("/v1/rectification-tasks", json=body)
                assert r.status_code == 201, r.text
                return r.json()["task_id"]
            if task["status"] in ("open", "in_progress"):
                r = await op.patch(f"/v1/rectification-tasks/{task['task_id']}", json={"deadline": deadline})
                assert r.status_code == 200, r.text
                return task["task_id"]
    raise AssertionError(f"{community} has no rectification item to open a task for: {items}")


async def _record(scoring: str, provider: dict[str, str], honour_id: str) -> dict:
    async with _api(scoring, provider, "demo-operator") as op:
        r = await op.get(f"/v1/honours/{honour_id}")
        assert r.status_code == 200, r.text
        return r.json()


async def _community_name(scoring: str, community_id: str) -> str:
    async with httpx.AsyncClient(base_url=scoring, timeout=10) as http:
        config = (await http.get("/dashboard/config.json")).json()
    return next(c["name_zh"] for c in config["communities"] if c["community_id"] == community_id)


async def _click(browser: Browser, honour: str, action: str) -> None:
    await browser.js(f"document.querySelector(`tr[data-honour='{honour}'] button[data-action='{action}']`).click()")


async def test_the_config_names_issuer_and_public_client_and_the_page_may_talk_to_that_issuer_only(
    scoring: str, provider: dict[str, str]
):
    async with httpx.AsyncClient(base_url=scoring, timeout=10) as http:
        r = await http.get("/dashboard/config.json")
        page = await http.get("/dashboard")
    config = r.json()
    assert config["mode"] == "oidc" and config["issuer"] == oidc_stack.kc.issuer(provider)
    assert config["client_id"] == "learnstreet-dashboard"
    assert not [k for k in config if "secret" in k.lower() or "password" in k.lower()]
    assert {c["community_id"] for c in config["communities"]} >= {WORKER_COMMUNITY, OTHER_COMMUNITY}
    csp = page.headers["content-security-policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()[1:]
    assert connect == ["'self'", oidc_stack.kc.base_url(provider)]


async def test_a_community_worker_signs_in_sees_only_their_community_approves_one_and_signs_out(
    scoring: str, provider: dict[str, str], browser: Browser
):
    mine, rejected, theirs = await _candidates(scoring, provider, [WORKER_COMMUNITY, WORKER_COMMUNITY, OTHER_COMMUNITY])
    my_task = await _overdue_task(scoring, provider, WORKER_COMMUNITY)
    their_task = await _overdue_task(scoring, provider, OTHER_COMMUNITY)

    assert await oidc_stack.sign_in(browser, scoring, provider, WORKER) == "community_worker"
    who = await browser.js("const w = document.getElementById('who'); return {hidden: w.hidden, ...w.dataset,"
                           "text: document.getElementById('who-text').textContent}")  # fmt: skip
    assert who["hidden"] is False and who["community"] == WORKER_COMMUNITY and who["username"] == WORKER
    assert await _community_name(scoring, WORKER_COMMUNITY) in who["text"] and "社区工作者" in who["text"], who

    rows = await browser.wait_for(ROWS + ".filter(r => r.id === arguments[0] || r.id === arguments[1]).length === 2"
                                  f" && ({ROWS.removeprefix('return ')})", mine, rejected)  # fmt: skip
    ids = {r["id"] for r in rows}
    assert {mine, rejected} <= ids and theirs not in ids
    assert {r["community"] for r in rows} == {WORKER_COMMUNITY}, "another community's candidate is shown"
    has_mine = TASKS + ".some(t => t.id === arguments[0]) && " + TASKS.removeprefix("return ")
    tasks = await browser.wait_for(has_mine, my_task)
    assert their_task not in {t["id"] for t in tasks}
    # a community workstation's tasks: its community's items, and street items it was made owner of
    assert all(WORKER_COMMUNITY in (t["community"], t["owner"]) for t in tasks), tasks
    assert next(t for t in tasks if t["id"] == my_task)["overdue"] is True
    # tokens stay in this tab: nothing token-like in localStorage, the code is gone from the address
    stored = await browser.js("return Object.keys(localStorage).map(k => localStorage.getItem(k)).join(' ')")
    assert "eyJ" not in stored and "code=" not in await browser.url()

    # rejecting needs a reason: without one the page refuses and nothing changes
    await _click(browser, rejected, "community-reject")
    note = await browser.wait_for(f"const n = document.querySelector(`tr[data-honour='{rejected}'] .note.error`);"
                                  "return n && n.textContent")  # fmt: skip
    assert "理由" in note
    assert (await _record(scoring, provider, rejected))["state"] == "nominated"

    await _click(browser, mine, "community-approve")
    assert await browser.wait_for(ROW_STATE, mine, "community_approved") == "community_approved"
    record = await _record(scoring, provider, mine)
    assert record["state"] == "community_approved"
    step = record["steps"][-1]
    assert step["step"] == "community_approved" and step["actor_role"] == "community_worker"
    # the selection record of their candidate: nominated by the competition, approved by them
    await _click(browser, mine, "record")
    steps = await browser.wait_for(
        f"const s = Array.from(document.querySelectorAll(`tr[data-record='{mine}'] li[data-step]`));"
        "return s.length >= 2 && s.map(li => li.dataset.step)"
    )
    assert steps[0] == "nominated" and steps[-1] == "community_approved"
    await browser.screenshot(ARTEFACTS / "dashboard-community-worker.png")

    await browser.js(
        f"document.querySelector(`tr[data-honour='{rejected}'] input[data-field='review']`).value = '材料不全';"
        f"document.querySelector(`tr[data-honour='{rejected}'] input[data-field='review']`)"
        ".dispatchEvent(new Event('input', {bubbles: true}));"
        f"document.querySelector(`tr[data-honour='{rejected}'] button[data-action='community-reject']`).click()"
    )
    assert await browser.wait_for(ROW_STATE, rejected, "rejected") == "rejected"
    assert (await _record(scoring, provider, rejected))["steps"][-1]["reason"] == "材料不全"
    assert await browser.console_errors() == []

    await browser.js("document.getElementById('sign-out').click()")
    message = await browser.wait_for(
        "const m = document.getElementById('auth-message');"
        "return location.pathname === '/dashboard' && !document.getElementById('auth').hidden && m.dataset.key",
        timeout_s=60,
    )
    assert message == "auth_signed_out"
    assert await browser.js(SESSION) is None and await browser.js("return document.getElementById('board').hidden")
    # the provider's session ended too: signing in again asks for the password
    await browser.js("document.getElementById('sign-in').click()")
    await browser.wait_for(KEYCLOAK_FORM, timeout_s=60)


async def test_an_operator_signs_in_sees_the_index_and_takes_a_candidate_through_street_review_and_an_objection(
    scoring: str, provider: dict[str, str], browser: Browser
):
    (honour,) = await _candidates(scoring, provider, [OTHER_COMMUNITY])
    async with _api(scoring, provider, "demo-operator") as op:
        r = await op.post(f"/v1/honours/{honour}/community-review", json={"decision": "approved"})
        assert r.status_code == 200, r.text

    assert await oidc_stack.sign_in(browser, scoring, provider, "demo-operator") == "operator"
    assert await browser.wait_for("return document.querySelectorAll('#community-bars .bar-row').length") == 12
    assert await browser.js("return document.getElementById('who').dataset.community") == ""
    await browser.wait_for(ROW_STATE, honour, "community_approved")
    await _click(browser, honour, "street-approve")
    assert await browser.wait_for(ROW_STATE, honour, "in_notice") == "in_notice"

    await _click(browser, honour, "record")
    row = f"tr[data-record='{honour}']"
    await browser.wait_for(f"return document.querySelectorAll(`{row} li[data-step]`).length >= 3")
    await browser.js(
        f"const i = document.querySelector(`{row} input[data-field='objection']`); i.value = '名次有误';"
        "i.dispatchEvent(new Event('input', {bubbles: true}));"
        f"document.querySelector(`{row} button[data-action='objection-lodge']`).click()"
    )
    objection = await browser.wait_for(
        f"const o = document.querySelector(`{row} li[data-objection]`); return o && o.dataset.objection"
    )
    await browser.js(
        f"const i = document.querySelector(`{row} li[data-objection] input`); i.value = '核实无误';"
        "i.dispatchEvent(new Event('input', {bubbles: true}));"
        f"document.querySelector(`{row} button[data-action='objection-dismissed']`).click()"
    )
    await browser.wait_for(f"return document.querySelector(`{row} .outcome.dismissed`)")
    record = await _record(scoring, provider, honour)
    assert record["state"] == "in_notice"
    assert [(o["objection_id"], o["outcome"], o["resolution_reason"]) for o in record["objections"]] == [
        (objection, "dismissed", "核实无误")
    ]
    assert [s["step"] for s in record["steps"]][-3:] == ["street_approved", "objection_lodged", "objection_dismissed"]
    await browser.screenshot(ARTEFACTS / "dashboard-operator.png")
    assert await browser.console_errors() == []


async def test_the_page_refreshes_its_access_token_before_it_expires_without_leaving_the_page(
    scoring: str, provider: dict[str, str], browser: Browser
):
    await oidc_stack.sign_in(browser, scoring, provider, WORKER)
    before = await browser.js(SESSION)
    # Pretend the token expires in 20 s: the page must fetch a new one with its refresh token.
    await browser.js(
        "const s = JSON.parse(sessionStorage.getItem('learnstreet.dashboard.oidc.session'));"
        "s.expires_at = Date.now() + 20000;"
        "sessionStorage.setItem('learnstreet.dashboard.oidc.session', JSON.stringify(s)); location.reload()"
    )
    after = await browser.wait_for(f"const s = ({SESSION.removeprefix('return ')}); return s && s.refreshed > 0 && s",
                                   timeout_s=60)  # fmt: skip
    assert after["access_token"] != before["access_token"] and after["refresh_token"] != before["refresh_token"]
    assert await browser.js("return arguments[0] - Date.now()", after["expires_at"]) > 60_000
    # the new token works, for the API and for the page, which stays signed in
    async with httpx.AsyncClient(base_url=scoring, timeout=10) as http:
        r = await http.get("/v1/honour-candidates", headers={"Authorization": f"Bearer {after['access_token']}"})
        assert r.status_code == 200, r.text
    assert await browser.wait_for(BOARD) == "community_worker"
    assert await browser.console_errors() == []


async def test_a_sign_in_response_this_tab_did_not_ask_for_is_refused(scoring: str, browser: Browser):
    # a forged or replayed callback: a code with a state no sign-in of this tab started
    await browser.open(f"{scoring}/dashboard?code=stolen-code&state=forged-state")
    message = await browser.wait_for(
        "const m = document.getElementById('auth-message');"
        "return !document.getElementById('auth').hidden && m.dataset.key"
    )
    assert message == "auth_state_mismatch"
    assert await browser.js(SESSION) is None
    assert "code=" not in await browser.url() and "state=" not in await browser.url()
    assert await browser.js("return document.getElementById('board').offsetParent === null")


async def test_when_the_provider_refuses_the_refresh_the_page_asks_for_a_sign_in_again(
    scoring: str, provider: dict[str, str], browser: Browser
):
    await oidc_stack.sign_in(browser, scoring, provider, WORKER)
    # the session ended at the provider (here: a refresh token it never issued) and the token expires now
    await browser.js(
        "const s = JSON.parse(sessionStorage.getItem('learnstreet.dashboard.oidc.session'));"
        "s.refresh_token = s.refresh_token.slice(0, -8) + 'AAAAAAAA'; s.expires_at = Date.now() + 1000;"
        "sessionStorage.setItem('learnstreet.dashboard.oidc.session', JSON.stringify(s)); location.reload()"
    )
    message = await browser.wait_for(
        "const m = document.getElementById('auth-message');"
        "return !document.getElementById('auth').hidden && m.dataset.key",
        timeout_s=30,
    )
    assert message == "auth_session_ended"
    assert await browser.js(SESSION) is None
    assert await browser.js("return document.getElementById('board').offsetParent === null")
