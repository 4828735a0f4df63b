"""Cross-origin calls from the residents' phone page (served by enrolment) to another service.

The page (services/enrolment/entrypoints/resident_page.py) lists and answers surveys and rates
sessions on activities, from enrolment's origin: the browser asks activities first (a CORS
preflight) and reads its answers only when activities names the page's origin. A service admits
the origins of its setting (`ACTIVITIES_CORS_ORIGINS`, comma-separated; empty: none, so no
cross-origin reads at all), the methods the page uses and the two headers it sends. No cookies
travel (the page sends its bearer token itself), so credentials stay off.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

METHODS = ("GET", "POST")
HEADERS = ("Authorization", "Content-Type")
# How long a browser may keep a preflight's answer (seconds).
MAX_AGE_S = 600


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL; ValueError naming what is wrong otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) address with a host")
    if parts.username or parts.password or "*" in parts.netloc:
        raise ValueError(f"{url!r}: no user, password or wildcard in an origin")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has no valid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def parse_origins(value: str) -> tuple[str, ...]:
    """A comma-separated list of origins (`http://127.0.0.1:8102, https://m.example.cn`): each
    `scheme://host[:port]` without path, query, user or wildcard; empty entries ignored, repeats
    kept once. ValueError names the first entry that is no origin."""
    out: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        parts = urlsplit(entry)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{entry!r} is not an origin: no path, query or fragment (scheme://host[:port])")
        origin = origin_of(entry)
        if origin not in out:
            out.append(origin)
    return tuple(out)


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Admit `origins` (nothing when empty: no CORS headers on any answer)."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=list(METHODS),
        allow_headers=list(HEADERS),
        allow_credentials=False,
        max_age=MAX_AGE_S,
    )
