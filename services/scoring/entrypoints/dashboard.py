"""The operators' web dashboard: a static page whose script reads the authenticated JSON API.

The page and its assets carry no data, so they are served without a token; every figure on the
page comes from `/v1/...`, which stays authenticated (the page asks for an operator token).
Everything is served from this service: no CDN, no build step (the factory may run offline).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from services.scoring.metrics import DASHBOARD_PAGE_VIEWS
from shared.http.errors import NotFound

STATIC = Path(__file__).resolve().parents[1] / "dashboard"

# Only these files are served: a fixed table (not a directory listing) leaves no path to traverse.
ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "i18n.json": "application/json",
}

# The page loads nothing from elsewhere and runs no inline script, so a token pasted into it can
# only travel to this origin; framing is refused against click-jacking of the operator's session.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Operators get a new script as soon as the service is redeployed.
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    """The dashboard page (no data in it; it asks for an operator token, or reads `?token=` once)."""
    DASHBOARD_PAGE_VIEWS.inc()
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=308)


@router.get("/dashboard/assets/{name}", include_in_schema=False)
async def dashboard_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard asset {name!r}; one of {', '.join(sorted(ASSETS))}", field="name")
    return FileResponse(STATIC / name, media_type=media_type, headers=SECURITY_HEADERS)
