"""The residents' mobile page (H5) at `/m/`: a static page whose script reads the resident's own API.

Like the staff dashboard (services/scoring/entrypoints/dashboard.py), the page and its assets
carry no data and are served without a token; everything a resident sees comes from `/v1/...` of
this service, with the resident's token: the sign-in by a one-time SMS code (`/v1/sign-in/...`)
gives it, the page keeps it in the tab's sessionStorage and drops it when it expires or is refused.

Everything is served from this origin: no CDN, no build step, no inline script, so the strict CSP
below holds and a token can only travel back here, or to activities' origin when the page has
surveys (ENROLMENT_ACTIVITIES_PUBLIC_URL: surveys and session ratings live on activities, ADR 0016).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from shared.http.cors import origin_of
from shared.http.errors import NotFound
from shared.reference import load_reference

STATIC = Path(__file__).resolve().parents[1] / "resident_page"

# Only these files are served: a fixed table (not a directory listing) leaves no path to traverse.
ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "i18n.json": "application/json",
}

# The opt-out categories notify honours (services/notify/domain/model.py KIND_CATEGORY's values;
# enrolment may not import notify, so tests/unit/enrolment/test_resident_page.py keeps them equal).
NOTIFICATION_CATEGORIES = ("enrolment", "session_updates", "reminders", "honours", "announcements", "promotions")

# How often the page asks for the resident's enrolments while it is visible, so a promotion from
# the waitlist shows without a reload.
POLL_S = 4

# After the resident agrees to surveys on the page, activities learns it from
# enrolment.residents (resident.consents_changed): the page retries the answer this many times,
# this far apart, while the 403 still names `consent`.
CONSENT_RETRIES = 8
CONSENT_RETRY_MS = 1500

# The longest free-text answer and rating comment activities takes (services/activities/domain/
# surveys.py MAX_TEXT_ANSWER, MAX_COMMENT; tests/unit/enrolment/test_resident_page.py keeps them equal).
SURVEY_TEXT_MAX = 2000
RATING_COMMENT_MAX = 1000


@functools.cache
def headers(activities_url: str | None = None) -> dict[str, str]:
    """The page's headers: its Content-Security-Policy lets it connect to this origin and, when the
    page has surveys (`ENROLMENT_ACTIVITIES_PUBLIC_URL`), to activities' origin; nothing else."""
    connect = "'self'" + (f" {origin_of(activities_url)}" if activities_url else "")
    return {
        # connect-src: the sign-in, enrolments, passport and preferences are here; surveys and
        # ratings on activities (which admits this origin by CORS, shared/http/cors.py).
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _activities_url(request: Request) -> str | None:
    return request.app.state.runtime.settings.activities_public_url


@functools.cache
def page_config(reference_dir: str, activities_url: str | None = None) -> dict[str, Any]:
    """The street's published names, what the preference centre offers and where surveys are
    (`activities_url`, null: no surveys tab); nothing secret."""
    ref = load_reference(reference_dir)
    return {
        "street": {"zh-CN": ref.street.name_zh, "en": ref.street.name_en},
        "communities": [
            {"community_id": c.id, "name": {"zh-CN": c.name_zh, "en": c.name_en}} for c in ref.communities.values()
        ],
        "categories": list(NOTIFICATION_CATEGORIES),
        "poll_s": POLL_S,
        "time_zone": "Asia/Shanghai",
        "activities_url": activities_url,
        # the page asks again this often when activities has not yet learnt a consent just given
        # (it travels on Kafka): attempts and the pause between them
        "consent_retries": CONSENT_RETRIES,
        "consent_retry_ms": CONSENT_RETRY_MS,
        "survey_text_max": SURVEY_TEXT_MAX,
        "rating_comment_max": RATING_COMMENT_MAX,
    }


router = APIRouter(tags=["resident page"])


@router.get("/m/", include_in_schema=False)
async def resident_page(request: Request) -> FileResponse:
    """The page (no data in it; it asks for a sign-in when the tab has no token)."""
    return FileResponse(
        STATIC / "index.html", media_type="text/html; charset=utf-8", headers=headers(_activities_url(request))
    )


@router.get("/m", include_in_schema=False)
async def resident_page_slash() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=308)


@router.get("/m/config.json", include_in_schema=False)
async def resident_page_config(request: Request) -> JSONResponse:
    url = _activities_url(request)
    return JSONResponse(page_config(request.app.state.runtime.settings.reference_dir, url), headers=headers(url))


@router.get("/m/assets/{name}", include_in_schema=False)
async def resident_page_asset(name: str, request: Request) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no page asset {name!r}; one of {', '.join(sorted(ASSETS))}", field="name")
    return FileResponse(STATIC / name, media_type=media_type, headers=headers(_activities_url(request)))
