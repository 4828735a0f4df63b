"""What every service has at run time, wired the same way in all four.

A service's `bootstrap.py` builds a `Runtime` (settings, broker, database pool, unit of work,
outbox relay, dead-letter publisher), registers its consumers and HTTP routes, and gets a
FastAPI app with health, readiness, metrics and AsyncAPI endpoints from `create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared import metrics
from shared.bus.broker import make_broker
from shared.bus.consumer import BatchConsumer, Decoder
from shared.bus.dead_letters import DeadLetterPublisher
from shared.bus.decoding import decode_event
from shared.bus.dispatch import BatchProjector, Dispatcher, Handlers, OffsetStore
from shared.bus.producer import Producer
from shared.bus.relay import OutboxRelay
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.db.retention import ACCESS_AUDIT, INBOX, ConsumerMarks, PrunedTable, Retention
from shared.db.uow import UnitOfWork
from shared.events.topics import group_id as group_id_for
from shared.http.auth import install_auth
from shared.http.cors import install_cors
from shared.http.errors import install_error_handlers
from shared.http.observability import RequestObservability
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


class Runtime:
    def __init__(self, settings: ServiceSettings, migrations: Path, *, read_models: Sequence[Path] = ()) -> None:
        self.settings = settings
        self.migrations = migrations
        # Migrations of the shared read models the service keeps (e.g. shared/catalogue), applied
        # before the service's own.
        self.read_models = tuple(read_models)
        self.broker = make_broker(settings)
        # Bulk publishing (outbox, dead letters) bypasses faststream's per-message middleware.
        self.producer = Producer(settings)
        self.dead_letters = DeadLetterPublisher(self.producer, settings.service, pool=lambda: self.pool)
        self.outbox_signal = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[BatchConsumer] = []
        # Tables the retention task prunes (the inbox and the access audit in every service;
        # `retain` adds more).
        self.pruned: list[PrunedTable] = [INBOX, ACCESS_AUDIT]
        self.retention: Retention | None = None
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self.started = False
        # What the service's handlers find in `uow.deps` (set by the service's bootstrap).
        self.deps: Any = None

    def uow(self) -> UnitOfWork:
        if self.pool is None:
            raise RuntimeError("runtime not started")
        return UnitOfWork(self.pool, self.outbox_signal, self.deps)

    def consume(
        self,
        *topics: str,
        handlers: Handlers | None = None,
        projector: BatchProjector | None = None,
        offsets: OffsetStore | None = None,
        on_applied: Callable[[set[str]], None] | None = None,
        label: str | None = None,
        decoder: Decoder = decode_event,
        group_id: str | None = None,
        description: str | None = None,
    ) -> BatchConsumer:
        """Consume `topics` with the service's handler table (and its batch projector, if any);
        see shared/bus/dispatch.py for the contract."""
        group_id = group_id or group_id_for(self.settings.service)
        dispatch = Dispatcher(
            self.uow, handlers or {}, projector=projector, offsets=offsets, on_applied=on_applied, label=label,
            marks=ConsumerMarks(group_id),
        )  # fmt: skip
        consumer = BatchConsumer(
            service=self.settings.service,
            topics=topics,
            handle=dispatch,
            dead_letters=self.dead_letters,
            decoder=decoder,
            group_id=group_id,
            max_records=self.settings.consumer_max_records,
            batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=self.settings.consumer_heartbeat_interval_ms,
            description=description,
        )
        consumer.register(self.broker)
        self.consumers.append(consumer)
        return consumer

    def retain(self, *tables: PrunedTable) -> None:
        """Prune these tables too (shared/db/retention.py says when a row may go)."""
        self.pruned.extend(tables)

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for consumer in self.consumers:
            groups.setdefault(consumer.group_id, []).extend(consumer.topics)
        return groups

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run after the database is migrated and before consumers start."""
        self._on_start.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._on_stop.append(hook)

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url.get_secret_value(), min_size=s.db_pool_min, max_size=s.db_pool_max)
        async with self.pool.acquire() as conn:
            applied = await migrate(conn, *self.read_models, self.migrations)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        for hook in self._on_start:
            await hook()
        await self.producer.start()
        await self.broker.start()
        self.relay = OutboxRelay(self.pool, self.producer, self.outbox_signal)
        self.relay.start()
        self.retention = Retention(s, lambda: self.pool, self._groups, self.pruned)
        self.retention.start()
        self.started = True
        log.info("%s started", s.service)

    async def stop(self) -> None:
        self.started = False
        if self.retention is not None:
            await self.retention.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.broker.stop()  # stops fetching, lets in-flight batches finish (graceful_timeout)
        await self.producer.stop()
        for hook in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await hook()
        if self.pool is not None:
            await self.pool.close()
        log.info("%s stopped", self.settings.service)

    async def readiness(self) -> dict[str, bool]:
        checks = {"started": self.started, "kafka": False, "database": False}
        with contextlib.suppress(Exception):
            checks["kafka"] = bool(await self.broker.ping(timeout=3.0))
        if self.pool is not None:
            with contextlib.suppress(Exception):
                checks["database"] = await asyncio.wait_for(self.pool.fetchval("SELECT true"), 3.0)
        return checks

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(
            self.broker,
            title=f"learnstreet {self.settings.service}",
            version="1.0.0",
            description=f"Events the {self.settings.service} service consumes and publishes.",
        )


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, declared or streamed (pure ASGI: a
    Starlette `@app.middleware` would wrap every request in a much slower layer). Paths in `own_limit`
    (a router's `streamed_bodies`) pass untouched: their route streams the body and enforces its own,
    larger, limit (scoring's evidence uploads), which buffering here would defeat."""

    def __init__(self, app, max_bytes: int, own_limit: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limit = own_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.own_limit:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # A streamed (chunked) body has no declared length: read it here, up to the limit, so
        # the refusal is a clear 413 rather than the framework's generic body-parsing error.
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replaying_receive():
            message = next(replay, None)
            return message if message is not None else await receive()

        await self.app(scope, replaying_receive, send)

    async def _refuse(self, send) -> None:
        body = orjson.dumps({"detail": [{"loc": ["body"], "msg": f"body larger than {self.max_bytes} bytes"}]})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})  # fmt: skip


class NoNulInIds:
    """Refuses a NUL character (`%00`) in the path or the query with 422 naming where: PostgreSQL
    cannot hold NUL in text, so an id carrying one would otherwise fail the first query (a 500)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            where = "path" if "\x00" in scope.get("path", "") else None
            query = scope.get("query_string", b"")
            if where is None and (b"%00" in query or b"\x00" in query):
                where = "query"
            if where is not None:
                body = orjson.dumps({"detail": [{"loc": [where], "msg": f"the {where} holds a NUL character (%00)",
                                                 "type": "value_error"}]})  # fmt: skip
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 422, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def create_app(
    runtime: Runtime,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    description: str = "",
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    # start-up refuses a weak HS256 secret; LS_OIDC_ISSUER switches to the identity provider's tokens
    install_auth(app, service=runtime.settings.service, jwt_secret=runtime.settings.jwt_secret.get_secret_value())
    install_error_handlers(app)

    # A router's `fast_paths`: pure-ASGI answers to its hottest routes, innermost so the checks
    # below and the metrics still see those requests (services/enrolment/entrypoints/http.py).
    for router in routers:
        for fast_path in getattr(router, "fast_paths", ()):
            app.add_middleware(fast_path)
    own_limit = frozenset(p for router in routers for p in getattr(router, "streamed_bodies", ()))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, own_limit=own_limit)
    app.add_middleware(NoNulInIds)
    # Browsers on these origins (the residents' phone page) may call the API (shared/http/cors.py);
    # outside the checks above so that a refused request still tells the page why.
    install_cors(app, cors_origins)
    app.add_middleware(RequestObservability, service=runtime.settings.service)  # outermost: sees refusals too

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        # Liveness only: a dependency outage must not make the orchestrator restart us.
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    spec_cache: dict[str, str] = {}

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> Response:
        if "json" not in spec_cache:
            spec_cache["json"] = runtime.asyncapi().to_specification().to_json()
        return Response(spec_cache["json"], media_type="application/json")

    for router in routers:
        app.include_router(router)
    return app
