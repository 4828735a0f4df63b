"""HTTP request metrics and request ids (shared/http/observability.py) on an app built by the
services' own `create_app`: series by route template, refusals counted, the id echoed and logged."""

from __future__ import annotations

import logging
import secrets
import uuid
from types import SimpleNamespace

import httpx
import orjson
import pytest
from fastapi import APIRouter
from prometheus_client import REGISTRY
from pydantic import SecretStr

from shared.logs import JsonFormatter
from shared.runtime import MAX_BODY_BYTES, create_app

SERVICE = f"unit-{uuid.uuid4().hex[:8]}"  # the registry is process-wide: a label of our own
router = APIRouter(prefix="/v1")
logged: list[str] = []


@router.get("/things/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    logged.append(JsonFormatter(SERVICE).format(logging.LogRecord("t", logging.INFO, "", 1, thing_id, None, None)))
    return {"id": thing_id}


@router.post("/things/{thing_id}")
async def post_thing(thing_id: str) -> dict[str, str]:
    return {"id": thing_id}


@router.get("/boom/{thing_id}")
async def boom(thing_id: str) -> None:
    raise RuntimeError("a bug")


@pytest.fixture
async def http():
    settings = SimpleNamespace(service=SERVICE, jwt_secret=SecretStr(secrets.token_hex(32)))
    app = create_app(SimpleNamespace(settings=settings), title="t", routers=[router])  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def series(name: str) -> dict[tuple, float]:
    """{(method, route, status-or-None): value} of our service's samples named `name`."""
    found = {}
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.name == name and s.labels.get("service") == SERVICE:
                found[(s.labels["method"], s.labels["route"], s.labels.get("status"))] = s.value
    return found


async def test_two_ids_on_one_route_are_one_series_named_by_the_template(http):
    for thing in ("a-1", "b-2"):
        assert (await http.get(f"/v1/things/{thing}")).status_code == 200
    counted = series("learnstreet_http_requests_total")
    assert counted == {("GET", "/v1/things/{thing_id}", "200"): 2.0}
    durations = series("learnstreet_http_request_duration_seconds_count")
    assert durations == {("GET", "/v1/things/{thing_id}", None): 2.0}


async def test_unknown_paths_share_one_label_and_unknown_methods_another(http):
    for path in ("/nope/1", "/nope/2", "/wp-admin.php"):
        assert (await http.get(path)).status_code == 404
    await http.request("BREW", "/v1/things/x")
    counted = series("learnstreet_http_requests_total")
    assert counted[("GET", "unmatched", "404")] == 3.0
    assert [k for k in counted if k[0] == "OTHER"] == [("OTHER", "/v1/things/{thing_id}", "405")]


async def test_refusals_before_routing_and_server_errors_are_counted_by_their_route(http):
    big = b"x" * (MAX_BODY_BYTES + 1)
    assert (await http.post("/v1/things/t", content=big)).status_code == 413
    assert (await http.get("/v1/things/a%00b")).status_code == 422
    assert (await http.get("/v1/boom/1")).status_code == 500
    counted = series("learnstreet_http_requests_total")
    assert counted[("POST", "/v1/things/{thing_id}", "413")] == 1.0
    assert counted[("GET", "/v1/things/{thing_id}", "422")] == 1.0
    assert counted[("GET", "/v1/boom/{thing_id}", "500")] == 1.0


async def test_a_callers_request_id_is_echoed_and_named_in_the_log_lines(http):
    logged.clear()
    r = await http.get("/v1/things/x", headers={"X-Request-ID": "kiosk-7:abc"})
    assert r.headers["x-request-id"] == "kiosk-7:abc"
    assert orjson.loads(logged[-1])["request_id"] == "kiosk-7:abc"


async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(http):
    plain = await http.get("/v1/things/x")
    hostile = await http.get("/v1/things/x", headers={"X-Request-ID": "a\u0007b" + "x" * 300})
    ids = {plain.headers["x-request-id"], hostile.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
