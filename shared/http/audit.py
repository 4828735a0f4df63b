"""Every access to a resident's data through the HTTP API is recorded; residents get a copy of
what a service holds about them.

- `Audited`: a route dependency. When the route's path or query names a `resident_id` and the
  caller acts as operator, assessor, community worker or venue staff, one row goes to the
  service's `access_audit` table (shared/db/migrations/0003_access_audit.sql) BEFORE the route
  runs: who, in which role, when, method and route template, the resident, and the purpose the
  caller gave in the `X-Access-Purpose` header (percent-encoded UTF-8). If the row cannot be written the request is
  refused (503): an access that cannot be recorded does not happen. Residents reading their own
  data and kiosks are not recorded. Declare it after the route's auth parameter, so a caller the
  route refuses (401/403) is refused before anything is recorded.
- `record_access(request, principal, resident_id)`: the same, for a route that learns the
  resident only from the row it reads (an enrolment, a notification).
- `add_routes(router)`: `GET /audit?resident_id=` (operators: the street's data-protection
  officer) on each service's router, under its `/v1` prefix.
- `export(conn, resident_id, queries)`: a service's data export from its own query table
  (services/<name>/adapters/privacy.py), with the resident's access log.

The hot check-in path never passes here: kiosks post check-ins without a resident in the route.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from shared.http.auth import Operator, Principal, authenticate

log = logging.getLogger(__name__)

AUDITED_ROLES = ("operator", "assessor", "community_worker", "venue_staff")
PURPOSE_HEADER = "X-Access-Purpose"
MAX_PURPOSE = 500
MAX_RESIDENT_ID = 128

ACCESSES = Counter(
    "learnstreet_personal_data_accesses_total",
    "Accesses to a resident's data through the HTTP API by staff, recorded in access_audit "
    "(by route template, role and method; never the resident).",
    ["route", "role", "method"],
)
AUDIT_FAILURES = Counter(
    "learnstreet_access_audit_failures_total",
    "Accesses refused because their audit row could not be written.",
)

_bearer = HTTPBearer(auto_error=False)


def _storable(text: str, limit: int) -> str:
    # Raw path and query values reach this dependency before the route validates them: PostgreSQL
    # text refuses NUL and the driver cannot encode a lone surrogate, and either would turn a
    # rejected request into a 503.
    return text[:limit].replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _purpose(request: Request) -> str | None:
    """The `X-Access-Purpose` header: UTF-8, percent-encoded when not ASCII (a header is bytes;
    raw UTF-8 bytes are taken too)."""
    raw = request.headers.get(PURPOSE_HEADER, "")
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return _storable(unquote(raw).strip(), MAX_PURPOSE) or None


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


async def record_access(request: Request, principal: Principal, resident_id: str) -> bool:
    """Write the audit row of `principal` reaching `resident_id`'s data; False when `principal`
    is not staff (nothing recorded). Raises 503 when the row cannot be written."""
    acting = principal.acting_as(AUDITED_ROLES)
    if acting is None:
        return False
    route, purpose = _route_of(request), _purpose(request)
    try:
        async with request.app.state.runtime.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO access_audit(actor, actor_role, method, route, resident_id, purpose)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                acting.subject, acting.role, request.method, route, _storable(resident_id, MAX_RESIDENT_ID), purpose,
            )  # fmt: skip
    except (asyncpg.PostgresError, OSError, AttributeError) as e:
        AUDIT_FAILURES.inc()
        log.error("access to a resident's data refused: audit row not written: %s", e)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "cannot record this access now; try again",
            headers={"Retry-After": "5"},
        ) from None
    ACCESSES.labels(route=route, role=acting.role, method=request.method).inc()
    return True


async def audit_access(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    resident_id = request.path_params.get("resident_id") or request.query_params.get("resident_id")
    if not resident_id:
        return
    # The route's own auth dependency has verified this token already: this is a cache hit.
    await record_access(request, await authenticate(request, credentials), resident_id)


Audited = Annotated[None, Depends(audit_access)]


async def accesses_of(conn: asyncpg.Connection, resident_id: str, limit: int | None = None) -> list[dict[str, Any]]:
    resident_id = _storable(resident_id, MAX_RESIDENT_ID)  # as it was recorded
    rows = await conn.fetch(
        "SELECT at, actor, actor_role, method, route, purpose FROM access_audit"
        " WHERE resident_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        resident_id, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def audit_log(
    request: Request,
    operator: Operator,
    _audit: Audited,
    resident_id: Annotated[str, Query(min_length=1, max_length=MAX_RESIDENT_ID)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Who accessed a resident's data in this service, newest first (this query included)."""
    async with request.app.state.runtime.pool.acquire() as conn:
        accesses = await accesses_of(conn, resident_id, limit)
    return {"service": request.app.state.runtime.settings.service, "resident_id": resident_id, "accesses": accesses}


def add_routes(router: APIRouter) -> None:
    """Serve `GET <router prefix>/audit` from `router` (a route of its own, so the router lists it
    like its other routes)."""
    router.add_api_route("/audit", audit_log, methods=["GET"], tags=["privacy"])


async def table_exists(conn: asyncpg.Connection, table: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)


async def export(conn: asyncpg.Connection, service: str, resident_id: str, queries: dict[str, str]) -> dict[str, Any]:
    """Everything `service` holds about `resident_id`: one list of rows per table, each query taking
    the resident id as $1, and the resident's access log. A table the database does not have (yet)
    is left out rather than failing the export."""
    tables: dict[str, list[dict[str, Any]]] = {}
    if _storable(resident_id, len(resident_id)) != resident_id:  # no such id can have been stored
        queries = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for table, query in queries.items():
            if await table_exists(conn, table):
                tables[table] = [dict(r) for r in await conn.fetch(query, resident_id)]
        accesses = await accesses_of(conn, resident_id)
    return {
        "service": service,
        "resident_id": resident_id,
        "exported_at": datetime.now(UTC),
        "tables": tables,
        "access_log": accesses,
    }
