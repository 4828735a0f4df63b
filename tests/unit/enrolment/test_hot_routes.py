"""Enrol and cancel answered by the pure-ASGI fast path (entrypoints/http.py HotRoutes) exactly
as the FastAPI routes answer them: same status, body and auth headers for every kind of request
(admitted, refused by auth, by the models, by the domain, by the kit's body-limit and NUL checks,
failing in the database), and the fast path really answers the admitted ones itself."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import httpx
import jwt
import orjson
import pytest
from fastapi import APIRouter
from pydantic import SecretStr

from services.enrolment.entrypoints import http as enrolment_http
from shared.http.auth import mint_token
from shared.runtime import MAX_BODY_BYTES, create_app

SECRET = secrets.token_hex(32)
STARTS = datetime.now(UTC) + timedelta(days=7)


class FakeConnection:
    """Answers the enrolment statements by what they are; `fail` makes every one fail."""

    def __init__(self, world: dict) -> None:
        self.world = world

    async def fetchrow(self, query: str, *args):
        if self.world.get("fail"):
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        if "AS already" in query:  # read_for_enrolment
            if args[0] != "s-1":
                return None
            session = dict(
                session_id="s-1", course_id="c-1", community_id="pinghu", starts_at=STARTS, capacity=20,
                confirmed_count=3, waitlist_count=0, cancelled=False, scheduled=True, elderly_priority_until=None,
                audiences=[], course_cancelled=False,
            )  # fmt: skip
            return {**session, "audience_group": "adult", "already": False}
        if "next_seq + 1" in query:  # place_enrolment
            return {"seq": 4, "status": "confirmed", "created_at": STARTS, "position": None}
        if "AS enrolment_status" in query:  # read_for_cancellation
            if args[0] != "e-1":
                return None
            return dict(
                session_id="s-1", course_id="c-1", community_id="pinghu", starts_at=STARTS, capacity=20,
                confirmed_count=3, waitlist_count=0, cancelled=False, scheduled=True, elderly_priority_until=None,
                audiences=[], course_cancelled=False, version=7, owner="r-1", enrolment_status="confirmed",
            )  # fmt: skip
        if "version = $3 FOR UPDATE" in query:  # cancel_if_unchanged
            return {"cancelled": 1, "promoted_ids": [], "promoted_residents": []}
        raise AssertionError(f"unexpected statement: {query[:60]}")


class FakePool:
    def __init__(self, world: dict) -> None:
        self.world = world

    def acquire(self):
        world = self.world

        class Acquired:
            async def __aenter__(self):
                return FakeConnection(world)

            async def __aexit__(self, *exc):
                return False

        return Acquired()


def _app(routers, world: dict):
    settings = SimpleNamespace(service="enrolment-unit", jwt_secret=SecretStr(SECRET))
    app = create_app(SimpleNamespace(settings=settings), title="t", routers=routers)  # type: ignore[arg-type]
    app.state.api_uow = SimpleNamespace(pool=FakePool(world), outbox_signal=asyncio.Event())
    return app


@pytest.fixture
async def apps():
    """(fast, plain, world): the same routes with and without the fast path, on one fake database."""
    world: dict = {}
    plain_router = APIRouter()  # no fast_paths: every request through FastAPI
    plain_router.include_router(enrolment_http.router)
    clients = []
    for routers in ([enrolment_http.router], [plain_router]):
        transport = httpx.ASGITransport(app=_app(routers, world), raise_app_exceptions=False)
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://t"))
    yield clients[0], clients[1], world
    for client in clients:
        await client.aclose()


def _token(role: str, subject: str = "op-1", **claims) -> str:
    if claims:
        return jwt.encode({"sub": subject, "role": role, "exp": int(time.time()) + 600, **claims}, SECRET, "HS256")
    return mint_token(SECRET, subject=subject, role=role)


def _auth(role: str, subject: str = "op-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(role, subject)}"}


EXPIRED = jwt.encode({"sub": "op-1", "role": "operator", "exp": int(time.time()) - 10}, SECRET, "HS256")
JSON = {"Content-Type": "application/json"}

# (method, path, headers, body): every way a request to the two routes can go
CASES = [
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("resident", "r-1"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("resident", "r-2"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("kiosk", "k-1"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("community_worker", "w-1"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", JSON, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {"Authorization": "Bearer nonsense", **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {"Authorization": f"Bearer {EXPIRED}", **JSON}, b'{"resident_id":"r"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {"Authorization": f"Basic {_token('operator')}", **JSON}, b"{}"),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"  r-1 "}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1","x":1}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r 1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":7}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b""),
    (
        "POST",
        "/v1/sessions/s-1/enrolments",
        {**_auth("operator"), "Content-Type": "text/plain"},
        b'{"resident_id":"r-1"}',
    ),
    ("POST", "/v1/sessions/s-1/enrolments", _auth("operator"), b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s-1/enrolments", {**_auth("operator"), **JSON}, b"x" * (MAX_BODY_BYTES + 1)),
    ("POST", "/v1/sessions/s-9/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s%00/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", "/v1/sessions/s%20x/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1"}'),
    ("POST", f"/v1/sessions/{'s' * 129}/enrolments", {**_auth("operator"), **JSON}, b'{"resident_id":"r-1"}'),
    ("DELETE", "/v1/enrolments/e-1", _auth("operator"), b""),
    ("DELETE", "/v1/enrolments/e-1", _auth("resident", "r-1"), b""),
    ("DELETE", "/v1/enrolments/e-1", _auth("resident", "r-2"), b""),
    ("DELETE", "/v1/enrolments/e-1", _auth("kiosk", "k-1"), b""),
    ("DELETE", "/v1/enrolments/e-1", {}, b""),
    ("DELETE", "/v1/enrolments/e-9", _auth("operator"), b""),
    ("DELETE", "/v1/enrolments/e%00", _auth("operator"), b""),
    ("DELETE", f"/v1/enrolments/{'e' * 129}", _auth("operator"), b""),
]


def _answer(response: httpx.Response) -> tuple:
    body = response.content
    if response.headers.get("content-type") == "application/json":
        data = orjson.loads(body)
        if isinstance(data, dict):  # made per request: a fresh id and clock
            for key in ("created_at", "cancelled_at"):
                data.pop(key, None)
            if str(data.get("enrolment_id", "")).startswith("e-") and response.request.method == "POST":
                data["enrolment_id"] = "e-<new>"
        body = data
    headers = {k: response.headers.get(k) for k in ("content-type", "www-authenticate", "retry-after")}
    return response.status_code, headers, body


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"), CASES, ids=[f"{c[0]} {c[1][:40]} {i}" for i, c in enumerate(CASES)]
)
async def test_the_fast_path_answers_as_the_route_does(apps, method, path, headers, body):
    fast, plain, _world = apps
    answers = [_answer(await client.request(method, path, headers=headers, content=body)) for client in (fast, plain)]
    assert answers[0] == answers[1]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_a_database_failure_is_answered_as_the_route_does(apps, method):
    fast, plain, world = apps
    world["fail"] = True
    path = "/v1/sessions/s-1/enrolments" if method == "POST" else "/v1/enrolments/e-1"
    answers = []
    for client in (fast, plain):
        response = await client.request(
            method, path, headers={**_auth("operator"), **JSON}, content=b'{"resident_id":"r-1"}'
        )
        answers.append(_answer(response))
    assert answers[0] == answers[1]
    assert answers[0][0] == 503


async def test_admitted_requests_never_reach_fastapi_and_refused_ones_reach_it_with_their_body():
    reached: list[tuple[str, bytes]] = []
    world: dict = {}
    app = _app([enrolment_http.router], world)

    async def fastapi_stand_in(scope, receive, send):
        message = await receive()
        reached.append((scope["path"], message.get("body", b"")))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    hot = enrolment_http.HotRoutes(fastapi_stand_in)

    async def outer(scope, receive, send):
        scope["app"] = app  # as Starlette sets it before its middlewares
        await hot(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://t") as client:
        ok = await client.post(
            "/v1/sessions/s-1/enrolments", headers={**_auth("operator"), **JSON}, content=b'{"resident_id":"r-1"}'
        )
        cancelled = await client.delete("/v1/enrolments/e-1", headers=_auth("operator"))
        refused = await client.post(
            "/v1/sessions/s-1/enrolments", headers={**_auth("operator"), **JSON}, content=b'{"resident_id":"r-1","x":1}'
        )
        other = await client.get("/v1/enrolments/e-1", headers=_auth("operator"))
    assert (ok.status_code, cancelled.status_code) == (201, 200)
    assert (refused.status_code, other.status_code) == (418, 418)
    assert reached == [("/v1/sessions/s-1/enrolments", b'{"resident_id":"r-1","x":1}'), ("/v1/enrolments/e-1", b"")]
