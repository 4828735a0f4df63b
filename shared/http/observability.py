"""Every HTTP request of a service: a request id in its log lines and its response, and the RED
metrics (rate, errors, duration) by route template.

The route label is the template (`/v1/residents/{resident_id}`), never the raw path: ids in
paths would make one series per resident. A path no route matches is counted as `unmatched`, an
unknown method as `OTHER`, so a scanner cannot grow the series either.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import compile_path

from shared.logs import CORRELATION_ID, REQUEST_ID

HTTP_REQUESTS = Counter(
    "learnstreet_http_requests_total",
    "HTTP requests answered, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "learnstreet_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A caller's id is echoed and logged: only a short token of safe characters is taken as given.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _SAFE_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class RequestObservability:
    """Pure ASGI (a Starlette `@app.middleware` layer costs far more per request). Added last, so
    it sees requests the other middlewares refuse (413, 422) as well."""

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service
        self._templates: list[tuple[re.Pattern[str], str]] | None = None
        # Labelled series by their labels: `labels()` on every request was a tenth of the
        # enrolment fast path's own CPU. Bounded like the labels are (methods, templates, codes).
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope["headers"]
        request_id = request_id_from(headers)
        correlation = next((v.decode("latin-1") for k, v in headers if k == b"x-correlation-id"), None)
        request_token = REQUEST_ID.set(request_id)
        correlation_token = CORRELATION_ID.set(correlation if correlation and _SAFE_ID.fullmatch(correlation) else None)
        status = 500  # an exception before the response started is answered 500 outside us
        echoed = request_id.encode()

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", echoed)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope.get("method", "")
            method = method if method in METHODS else "OTHER"
            route = self._route(scope)
            if (counted := self._counted.get((method, route, status))) is None:
                counted = self._counted[(method, route, status)] = HTTP_REQUESTS.labels(
                    self.service, method, route, str(status)
                )
            if (timed := self._timed.get((method, route))) is None:
                timed = self._timed[(method, route)] = HTTP_DURATION.labels(self.service, method, route)
            counted.inc()
            timed.observe(time.perf_counter() - started)
            CORRELATION_ID.reset(correlation_token)
            REQUEST_ID.reset(request_token)

    def _route(self, scope) -> str:
        route = getattr(scope.get("route"), "path", None)
        if route is not None:
            return route
        # Refused before routing (body too large, NUL in the path) or no route at all: the
        # template the path was meant for, if any.
        if self._templates is None:
            self._templates = _templates(scope.get("app"))
        path = scope.get("path", "")
        return next((template for pattern, template in self._templates if pattern.match(path)), UNMATCHED)


def _templates(app) -> list[tuple[re.Pattern[str], str]]:
    """Every route's path regex and template, from the app's public route list and its OpenAPI
    paths (routes included from routers are not plain `Route`s in every FastAPI version)."""
    paths = [
        r.path for r in getattr(getattr(app, "router", None), "routes", ()) if isinstance(getattr(r, "path", None), str)
    ]
    with contextlib.suppress(Exception):
        paths += list(app.openapi().get("paths", {}))
    return [(compile_path(p)[0], p) for p in dict.fromkeys(paths)]
