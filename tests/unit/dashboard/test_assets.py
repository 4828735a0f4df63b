"""The dashboard's static page: served without a token, self-contained, fully bilingual."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.scoring.entrypoints import dashboard
from shared.http.errors import install_error_handlers


@pytest.fixture(scope="module")
def http() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(dashboard.router)
    return TestClient(app)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.i18n: set[str] = set()
        self.handlers: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
        if tag == "link" and a.get("href"):
            self.links.append(a["href"] or "")
        for key in ("data-i18n", "data-i18n-placeholder"):
            if a.get(key):
                self.i18n.add(a[key] or "")
        self.handlers += [k for k in a if k.startswith("on")]
        if a.get("id"):
            self.ids.add(a["id"] or "")


def _page(http: TestClient) -> _Page:
    parser = _Page()
    parser.feed(http.get("/dashboard").text)
    return parser


def test_page_is_served_without_a_token_with_a_strict_policy(http: TestClient):
    r = http.get("/dashboard")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_page_runs_no_inline_script_and_loads_only_local_assets(http: TestClient):
    page = _page(http)
    assert page.scripts and all(s.get("src") for s in page.scripts), "inline scripts break the CSP"
    assert not page.handlers, f"inline event handlers: {page.handlers}"
    # "data:," is the empty favicon: it keeps the browser from asking for /favicon.ico.
    for src in [s["src"] for s in page.scripts] + [h for h in page.links if h != "data:,"]:
        assert src and src.startswith("/dashboard/assets/"), src
        assert http.get(src).status_code == 200, src


@pytest.mark.parametrize("name", sorted(dashboard.ASSETS))
def test_assets_reference_no_other_host(http: TestClient, name: str):
    r = http.get(f"/dashboard/assets/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(dashboard.ASSETS[name].split(";")[0])
    # The SVG namespace is a name, not a request.
    hosts = set(re.findall(r"https?://[^\s\"'`)]+", r.text)) - {"http://www.w3.org/2000/svg"}
    assert not hosts, f"{name} refers to {hosts}"


def test_unknown_asset_is_404_with_the_field(http: TestClient):
    r = http.get("/dashboard/assets/index.html.bak")
    assert r.status_code == 404
    assert r.json()["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize("path", ["/dashboard/assets/..%2fbootstrap.py", "/dashboard/assets/%2e%2e%2f..%2fconfig.py",
                                  "/dashboard/assets/../entrypoints/dashboard.py"])  # fmt: skip
def test_no_path_leaves_the_asset_table(http: TestClient, path: str):
    r = http.get(path)
    assert r.status_code == 404
    assert "import" not in r.text


def test_both_languages_have_every_label_the_page_and_script_use(http: TestClient):
    dictionary = json.loads(http.get("/dashboard/assets/i18n.json").text)
    assert set(dictionary) == {"zh-CN", "en"}
    zh, en = dictionary["zh-CN"], dictionary["en"]
    assert set(zh) == set(en), f"only in one language: {set(zh) ^ set(en)}"
    assert all(v.strip() for v in [*zh.values(), *en.values()])
    # Chinese labels are Chinese (a forgotten English copy would slip through a key check).
    assert all(re.search(r"[\u4e00-\u9fff]", v) for k, v in zh.items() if k != "lang_toggle"), zh
    script = http.get("/dashboard/assets/app.js").text
    used = set(re.findall(r"\bt\(\"([a-z0-9_]+)\"", script)) | set(re.findall(r"showAuth\(\"([a-z0-9_]+)\"", script))
    used |= _page(http).i18n
    missing = used - set(zh)
    assert not missing, f"labels without a translation: {missing}"


def test_page_has_every_element_the_script_draws_into(http: TestClient):
    script = http.get("/dashboard/assets/app.js").text
    wanted = set(re.findall(r"\$\(\"([a-z0-9-]+)\"\)", script))
    missing = wanted - _page(http).ids
    assert not missing, f"app.js looks for elements the page lacks: {missing}"


SHARED_SIGN_IN = "auth-ui.js"
# the sign-in wiring both operator pages had a copy of: the auth mode and the provider's client, the
# token taken from the address, the token form and where the token is kept
SIGN_IN_WIRING = ('fetch("/dashboard/config.json"', "new window.DashboardAuth.Client", 'searchParams.delete("token")',
                  '"auth-form").addEventListener', "learnstreet.dashboard.token")  # fmt: skip


def _static_page(name: str) -> _Page:
    parser = _Page()
    parser.feed((dashboard.STATIC / name).read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize(("page", "script"), [("index.html", "app.js"), ("district.html", "district.js")])
def test_both_operator_pages_sign_in_through_one_shared_script(http: TestClient, page: str, script: str):
    shared = http.get(f"/dashboard/assets/{SHARED_SIGN_IN}")
    assert shared.status_code == 200 and shared.headers["content-type"].startswith("text/javascript")
    loaded = [s["src"] for s in _static_page(page).scripts]
    own, wiring = f"/dashboard/assets/{script}", f"/dashboard/assets/{SHARED_SIGN_IN}"
    assert wiring in loaded and loaded.index(wiring) < loaded.index(own), loaded  # before the page's own script
    assert loaded.index("/dashboard/assets/oidc.js") < loaded.index(wiring), loaded
    copied = [w for w in SIGN_IN_WIRING if w in http.get(own).text]
    assert not copied, f"{script} repeats the shared sign-in wiring: {copied}"
    assert all(w in shared.text for w in SIGN_IN_WIRING)
    wanted = set(re.findall(r"getElementById\(\"([a-z0-9-]+)\"\)", shared.text))  # the form it wires
    assert wanted and not wanted - _static_page(page).ids, f"{page} lacks {wanted - _static_page(page).ids}"
