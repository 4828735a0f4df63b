"""The residents' mobile page (/m/): served without a token, self-contained, fully bilingual, and
offering exactly the notification categories notify honours."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.enrolment.entrypoints import resident_page
from services.notify.domain import model as notify_model
from shared.http.errors import install_error_handlers
from tests.support import ROOT


@pytest.fixture(scope="module")
def http() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(resident_page.router)
    app.state.runtime = SimpleNamespace(
        settings=SimpleNamespace(reference_dir=str(ROOT / "reference" / "pinghu"), activities_public_url=None)
    )
    return TestClient(app)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _page(http: TestClient) -> _Page:
    parser = _Page()
    parser.feed(http.get("/m/").text)
    return parser


def test_page_is_served_without_a_token_with_a_strict_policy(http: TestClient):
    r = http.get("/m/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    for rule in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert rule in csp
    assert http.get("/m", follow_redirects=False).headers["location"] == "/m/"


def test_page_runs_no_inline_script_and_loads_only_its_own_assets(http: TestClient):
    page = _page(http)
    scripts = [a for tag, a in page.tags if tag == "script"]
    assert scripts and all(a.get("src") for a in scripts), "an inline script breaks the CSP"
    assert not [k for _, a in page.tags for k in a if k.startswith("on")], "inline event handlers"
    links = [a["href"] for tag, a in page.tags if tag == "link" and a.get("href") != "data:,"]
    for src in [a["src"] for a in scripts] + links:
        assert src and src.startswith("/m/assets/"), src
        assert http.get(src).status_code == 200, src


@pytest.mark.parametrize("name", sorted(resident_page.ASSETS))
def test_assets_name_no_other_host(http: TestClient, name: str):
    r = http.get(f"/m/assets/{name}")
    assert r.status_code == 200
    assert not re.findall(r"https?://", r.text), name


def test_an_unknown_asset_is_a_404_naming_the_field(http: TestClient):
    r = http.get("/m/assets/http.py")
    assert r.status_code == 404
    assert r.json()["detail"][0]["loc"] == ["body", "name"]


def test_every_input_has_a_label(http: TestClient):
    page = _page(http)
    labelled = {a.get("for") for tag, a in page.tags if tag == "label"}
    for tag, a in page.tags:
        if tag in ("input", "select") and a.get("type") != "hidden":
            assert a.get("id") in labelled or a.get("aria-label"), f"{tag} {a.get('id')} has no label"


def test_both_languages_have_every_word_the_page_and_script_use(http: TestClient):
    words = json.loads(http.get("/m/assets/i18n.json").text)
    assert set(words) == {"zh-CN", "en"}
    assert set(words["zh-CN"]) == set(words["en"])
    page = _page(http)
    used = {a["data-i18n"] for _, a in page.tags if a.get("data-i18n")}
    script = http.get("/m/assets/app.js").text
    used |= set(re.findall(r"\bt\('([a-z_]*[a-z])'", script))  # not the prefixes ('cat_' + ...)
    config = http.get("/m/config.json").json()
    used |= {f"cat_{c}" for c in config["categories"]}
    assert used - set(words["en"]) == set()


def test_the_preference_centre_offers_the_categories_notify_honours(http: TestClient):
    # A kind the resident asked for themself (a sign-in code) is no category they opt out of.
    requested = getattr(notify_model, "REQUESTED_KINDS", frozenset())
    offered = {category for kind, category in notify_model.KIND_CATEGORY.items() if kind not in requested}
    assert set(http.get("/m/config.json").json()["categories"]) == offered


def test_config_names_the_twelve_communities_in_both_languages(http: TestClient):
    config = http.get("/m/config.json").json()
    assert len(config["communities"]) == 12
    assert all(c["name"]["zh-CN"] and c["name"]["en"] for c in config["communities"])
    assert config["street"] == {"zh-CN": "平湖街道", "en": "Pinghu Street"}


def test_the_page_accepts_exactly_the_codes_the_server_takes():
    """The page checked 4-8 letters or digits while sign-in takes six digits: a mistyped code
    reached the server and used one of the resident's limited attempts."""
    from services.enrolment.entrypoints.sign_in import Code

    script = (ROOT / "services" / "enrolment" / "resident_page" / "app.js").read_text(encoding="utf-8")
    page_pattern = re.search(r"const CODE_PATTERN = /(.+)/;", script)[1]
    server_pattern = next(m.pattern for m in Code.__metadata__[0].metadata if hasattr(m, "pattern"))
    assert page_pattern == server_pattern


def _page_with(activities_url: str | None) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(resident_page.router)
    app.state.runtime = SimpleNamespace(
        settings=SimpleNamespace(reference_dir=str(ROOT / "reference" / "pinghu"), activities_public_url=activities_url)
    )
    return TestClient(app)


def _connect_src(csp: str) -> list[str]:
    [rule] = [r.split()[1:] for r in csp.split(";") if r.split()[:1] == ["connect-src"]]
    return rule


def test_the_page_may_connect_to_activities_only_when_it_names_it_and_nowhere_else():
    """Surveys and ratings live on activities: the page's CSP adds activities' origin (not a path,
    not a wildcard) when ENROLMENT_ACTIVITIES_PUBLIC_URL is set, and the page learns the address
    from its config; unset, the page connects to its own origin only and has no surveys."""
    with _page_with("http://127.0.0.1:8101") as http:
        for path in ("/m/", "/m/config.json", "/m/assets/app.js"):
            csp = http.get(path).headers["content-security-policy"]
            assert _connect_src(csp) == ["'self'", "http://127.0.0.1:8101"], path
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
        config = http.get("/m/config.json").json()
        assert config["activities_url"] == "http://127.0.0.1:8101"
        assert config["consent_retries"] >= 3 and 0 < config["consent_retry_ms"] <= 3000
    with _page_with(None) as http:
        assert _connect_src(http.get("/m/").headers["content-security-policy"]) == ["'self'"]
        assert http.get("/m/config.json").json()["activities_url"] is None


def _enrolment(**values):
    import secrets

    from services.enrolment.config import EnrolmentSettings

    return EnrolmentSettings(service="enrolment", kafka_username="e", kafka_password="p", database_url="postgresql://x",
                             http_port=8102, LS_JWT_SECRET=secrets.token_hex(32), **values)  # fmt: skip


def test_the_activities_address_setting_is_checked_at_start_up():
    from pydantic import ValidationError

    assert _enrolment().activities_public_url is None
    assert _enrolment(activities_public_url="").activities_public_url is None
    assert _enrolment(activities_public_url=" https://api.example.cn/activities/ ").activities_public_url == (
        "https://api.example.cn/activities"
    )
    with _page_with("https://api.example.cn/activities") as http:
        assert _connect_src(http.get("/m/").headers["content-security-policy"]) == ["'self'", "https://api.example.cn"]
    for bad in ("127.0.0.1:8101", "ftp://example.cn", "http://*.example.cn", "http://x.cn/?a=1"):
        with pytest.raises(ValidationError, match="activities_public_url"):
            _enrolment(activities_public_url=bad)


def test_the_page_limits_texts_as_activities_does():
    from services.activities.domain import surveys

    assert resident_page.SURVEY_TEXT_MAX == surveys.MAX_TEXT_ANSWER
    assert resident_page.RATING_COMMENT_MAX == surveys.MAX_COMMENT
