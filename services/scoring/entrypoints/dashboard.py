"""The staff web dashboard: a static page whose script reads the authenticated JSON API.

The page and its assets carry no data, so they are served without a token; every figure on the
page comes from `/v1/...`, which stays authenticated. How the page gets a token depends on the
service's auth mode (shared/http/auth.py), which `/dashboard/config.json` tells it:

- OpenID Connect (`LS_OIDC_ISSUER` set): the page signs its user in at the issuer with the
  authorization-code flow and PKCE as the public client `LS_OIDC_DASHBOARD_CLIENT_ID` (default
  `learnstreet-dashboard`); the provider must list `<this service>/dashboard` as a redirect URI.
- Development HS256: the page asks for a pasted token (`learnstreet token`).

Everything is served from this service: no CDN, no build step (the factory may run offline).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from services.scoring.metrics import DASHBOARD_PAGE_VIEWS
from shared.http.auth import oidc_config_from_env
from shared.http.errors import NotFound

STATIC = Path(__file__).resolve().parents[1] / "dashboard"
SERVICE = "scoring"
DEFAULT_CLIENT_ID = "learnstreet-dashboard"

# Only these files are served: a fixed table (not a directory listing) leaves no path to traverse.
ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "oidc.js": "text/javascript; charset=utf-8",
    "auth-ui.js": "text/javascript; charset=utf-8",  # the sign-in wiring of the dashboard and the district page
    "charts.js": "text/javascript; charset=utf-8",
    "district.js": "text/javascript; charset=utf-8",  # the district page (entrypoints/district.py)
    "app.css": "text/css; charset=utf-8",
    "i18n.json": "application/json",
}


def _security_headers(connect: str) -> dict[str, str]:
    # The page loads nothing from elsewhere and runs no inline script, so a token can only travel to
    # this origin and, when signing in, to the identity provider's; framing is refused against
    # click-jacking of the operator's session.
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Operators get a new script as soon as the service is redeployed.
        "Cache-Control": "no-cache",
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def dashboard_config(app: FastAPI, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the page needs to sign in and to name things; nothing secret (it is served to anyone).

    The community names, honour quotas and notice period are the street's published reference
    data: a community worker, whom the index routes may not admit, still sees names, not codes."""
    oidc = oidc_config_from_env(SERVICE, environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    config: dict[str, Any] = {"mode": "token", "issuer": None, "client_id": None}
    if oidc is not None:
        config.update(
            mode="oidc",
            issuer=oidc.issuer,
            client_id=env.get("LS_OIDC_DASHBOARD_CLIENT_ID", "").strip() or DEFAULT_CLIENT_ID,
            scope="openid",
            roles_claim=oidc.roles_claim,
            community_claim=oidc.community_claim,
        )
    engine = getattr(app.state, "index", None)
    if engine is not None:
        ref = engine.reference
        selection = engine.indicators.selection
        config.update(
            street={"community_id": "street", "name_zh": ref.street.name_zh, "name_en": ref.street.name_en},
            communities=[
                {"community_id": c.id, "name_zh": c.name_zh, "name_en": c.name_en} for c in ref.communities.values()
            ],
            selection={
                "mode": selection.mode,
                "notice_days": selection.notice_days,
                "quotas": {k: dict(v) for k, v in selection.quotas.items()},
            },
        )
    return config


def configure(app: FastAPI, environ: Mapping[str, str] | None = None) -> None:
    """Fix the page's configuration at start-up, from the same environment the auth mode comes from."""
    config = dashboard_config(app, environ)
    app.state.dashboard_config = config
    connect = "'self'" + (f" {_origin(config['issuer'])}" if config["issuer"] else "")
    app.state.dashboard_headers = _security_headers(connect)


def _config(request: Request) -> dict[str, Any]:
    if getattr(request.app.state, "dashboard_config", None) is None:  # an app built without configure()
        configure(request.app)
    return request.app.state.dashboard_config


def _headers(request: Request) -> dict[str, str]:
    _config(request)
    return request.app.state.dashboard_headers


router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page(request: Request) -> FileResponse:
    """The dashboard page (no data in it; it signs in at the identity provider, or asks for a token)."""
    DASHBOARD_PAGE_VIEWS.inc()
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_headers(request))


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=308)


@router.get("/dashboard/config.json", include_in_schema=False)
async def dashboard_config_json(request: Request) -> JSONResponse:
    """The issuer and client id the page signs in with (or token mode), and the street's names."""
    return JSONResponse(_config(request), headers=_headers(request))


@router.get("/dashboard/assets/{name}", include_in_schema=False)
async def dashboard_asset(name: str, request: Request) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard asset {name!r}; one of {', '.join(sorted(ASSETS))}", field="name")
    return FileResponse(STATIC / name, media_type=media_type, headers=_headers(request))
