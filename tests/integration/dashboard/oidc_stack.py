"""A scoring service that takes the real Keycloak's tokens, for the dashboard's sign-in tests.

When the shared stack's scoring already runs with the local Keycloak as its issuer (`make up`
with the identity provider), the tests use it as it is. Until then the shared scoring takes
development HS256 tokens, and these helpers serve the working tree's scoring app in this process
with `LS_OIDC_ISSUER` set: the real `build_app` against the shared PostgreSQL and Kafka, HTTP only
(`consume=False`: a test instance must not take partitions from the running scoring's consumer
group), on a free port. Keycloak only redirects to registered addresses, so that instance's
address is added to the dashboard client's redirect URIs and web origins through Keycloak's
admin REST API for the duration, and the client is put back as it was afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import uvicorn

from tests.integration.dashboard.browser import Browser
from tests.support import ROOT, env, service_url

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import keycloak as kc  # deploy/local/keycloak.py

DASHBOARD_CLIENT = "learnstreet-dashboard"

# Page probes (function bodies run in the page).
BOARD = """const b = document.getElementById('board');
return !b.hidden && location.pathname === '/dashboard' && !location.search.includes('code=') && b.dataset.role"""
KEYCLOAK_FORM = (
    "return location.pathname.includes('/protocol/openid-connect/') && !!document.getElementById('kc-login')"
)
SIGN_IN_SHOWN = "return !document.getElementById('sign-in').hidden && !document.getElementById('auth').hidden"
BACK_REFUSED = """return location.pathname === '/dashboard' && !location.search.includes('code=')
  && !document.getElementById('auth').hidden && document.getElementById('auth-message').dataset.key"""
PAGE_STATE = """return {url: location.href, message: document.getElementById('auth-message')?.dataset.key,
  text: document.body.innerText.slice(0, 300)}"""


@contextlib.contextmanager
def keycloak() -> Iterator[dict[str, str]]:
    """The local Keycloak's credentials; started for the block when it does not answer (then stopped)."""
    creds = kc.effective()
    started = not kc.keycloak_ready(creds)
    if started:
        kc.keycloak_up(creds)
    try:
        yield creds
    finally:
        if started:
            kc.keycloak_down()


def _json(url: str, *, data: bytes | None = None, method: str | None = None, token: str | None = None,
          content_type: str = "application/x-www-form-urlencoded") -> object:  # fmt: skip
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as r:
        body = r.read()
    return json.loads(body) if body else None


class Admin:
    """Keycloak's admin REST API with the bootstrap admin of the generated credentials."""

    def __init__(self, creds: dict[str, str]) -> None:
        self.base = kc.base_url(creds)
        form = urllib.parse.urlencode({
            "grant_type": "password", "client_id": "admin-cli",
            "username": creds["KEYCLOAK_ADMIN_USERNAME"], "password": creds["KEYCLOAK_ADMIN_PASSWORD"],
        }).encode()  # fmt: skip
        self.token = _json(f"{self.base}/realms/master/protocol/openid-connect/token", data=form)["access_token"]

    def client(self, client_id: str) -> dict:
        url = f"{self.base}/admin/realms/{kc.REALM}/clients?clientId={urllib.parse.quote(client_id)}"
        (found,) = _json(url, token=self.token)
        return found

    def put_client(self, rep: dict) -> None:
        _json(f"{self.base}/admin/realms/{kc.REALM}/clients/{rep['id']}", data=json.dumps(rep).encode(),
              method="PUT", token=self.token, content_type="application/json")  # fmt: skip


@contextlib.contextmanager
def dashboard_client_allows(creds: dict[str, str], origin: str, path: str = "/dashboard") -> Iterator[None]:
    """The dashboard client redirects to `origin``path` (and back after sign-out) for the block."""
    admin = Admin(creds)
    original = admin.client(DASHBOARD_CLIENT)
    page = f"{origin}{path}"
    changed = json.loads(json.dumps(original))
    changed["redirectUris"] = [*original.get("redirectUris", []), page]
    changed["webOrigins"] = [*original.get("webOrigins", []), origin]
    attributes = changed.setdefault("attributes", {})
    logout = [u for u in attributes.get("post.logout.redirect.uris", "").split("##") if u]
    attributes["post.logout.redirect.uris"] = "##".join([*logout, page])
    admin.put_client(changed)
    try:
        yield
    finally:
        Admin(creds).put_client(original)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/dashboard/config.json", timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def scoring_with_issuer(creds: dict[str, str]) -> Iterator[str]:
    """The address of a scoring service whose API takes this Keycloak's tokens."""
    issuer = kc.issuer(creds)
    shared = service_url("scoring")
    config = _config(shared)
    if config is not None and config.get("mode") == "oidc" and config.get("issuer") == issuer:
        yield shared
        return
    from services.scoring.bootstrap import build_app
    from services.scoring.config import settings

    port = _free_port()
    # The service reads its settings and auth mode from the environment, as `make up` gives it.
    overrides = {**env(), "SCORING_HTTP_PORT": str(port), "LS_OIDC_ISSUER": issuer}
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        app = build_app(settings(), consume=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="dashboard-oidc-scoring", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not (server.started and _ready(url)):
            if not thread.is_alive():
                raise AssertionError("the in-process scoring service stopped while starting")
            if time.monotonic() > deadline:
                raise AssertionError("the in-process scoring service was not ready within 120 s")
            time.sleep(0.2)
        with dashboard_client_allows(creds, url):
            yield url
    finally:
        server.should_exit = True
        thread.join(60)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def password(creds: dict[str, str], username: str) -> str:
    return creds[kc.password_key(username)]


def access_token(creds: dict[str, str], username: str) -> str:
    """A demo user's access token through the development client (test set-up only, not the page)."""
    return kc.password_grant(creds, username)["access_token"]


def dashboard_issuer_creds(scoring: str) -> dict[str, str] | None:
    """Keycloak's credentials when the dashboard at `scoring` signs in there, None in token mode."""
    config = _config(scoring) or {}
    if config.get("mode") != "oidc":
        return None
    creds = kc.effective()
    assert config.get("issuer") == kc.issuer(creds), (config, kc.issuer(creds))
    return creds


async def sign_in(
    browser: Browser, scoring: str, provider: dict[str, str], username: str, *, board: bool = True
) -> str:
    """Signs `username` in on the dashboard's page through the provider's own login form (the
    authorization-code flow with PKCE as a person takes it); returns the role the board shows."""
    await browser.open(f"{scoring}/dashboard")
    await browser.wait_for(SIGN_IN_SHOWN)
    assert await browser.js("return document.getElementById('auth-form').hidden"), "no token field under OIDC"
    await browser.js("document.getElementById('sign-in').click()")
    await browser.wait_for(KEYCLOAK_FORM, timeout_s=60)
    authorize = await browser.url()
    assert "code_challenge_method=S256" in authorize and "code_challenge=" in authorize and "nonce=" in authorize
    await browser.js(
        "document.getElementById('username').value = arguments[0];"
        "document.getElementById('password').value = arguments[1];"
        "document.getElementById('kc-login').click()",
        username, password(provider, username),
    )  # fmt: skip
    if not board:
        return await browser.wait_for(BACK_REFUSED, timeout_s=60)
    try:
        return await browser.wait_for(BOARD, timeout_s=60)
    except AssertionError as e:
        page = await browser.js(PAGE_STATE)
        raise AssertionError(f"not signed in: {page}; console: {await browser.console_errors()}") from e
