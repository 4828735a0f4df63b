"""Erasing a resident from one service's database (docs/decisions/0010-erasure.md).

Each service lists its statements next to its export queries (services/<name>/adapters/
privacy.py): `$1` is the resident id, `$2` (where used) the pseudonym that replaces it where a row must stay
for an aggregate (scoring's counts, seat counts). One pseudonym per service and request, random,
so rows that stay still group by resident (distinct-attendee counts) yet identify nobody and
cannot be joined across services. The access audit keeps its rows with the pseudonym; a receipt
(request id, row count; no card number) records that the service is done.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from shared.events.catalogue import ERASURE_COMPLETED
from shared.events.envelope import Envelope, envelop
from shared.http import audit

PREFIX = "erased:"
T = TypeVar("T")


def pseudonym() -> str:
    return f"{PREFIX}{uuid.uuid4().hex}"


async def erase(
    conn: asyncpg.Connection,
    resident_id: str,
    request_id: uuid.UUID,
    statements: list[str],
    erased_cards: ErasedCards | None = None,
) -> int | None:
    """Run `statements` in the caller's transaction; the number of rows they changed, None when
    this request was already applied (a redelivered event erases nothing twice). With
    `erased_cards`, the card's keyed hash is remembered, so that its late events are refused."""
    if await conn.fetchval("SELECT 1 FROM erasure_receipts WHERE request_id = $1", request_id):
        return None
    if erased_cards is not None:
        await erased_cards.remember(conn, resident_id, request_id)
    alias = pseudonym()
    rows = await run_statements(conn, resident_id, alias, statements)
    rows += _count(
        await conn.execute("UPDATE access_audit SET resident_id = $2 WHERE resident_id = $1", resident_id, alias)
    )
    await conn.execute(
        "INSERT INTO erasure_receipts(request_id, erased_rows) VALUES ($1, $2) ON CONFLICT DO NOTHING", request_id, rows
    )
    return rows


async def in_checkpoint(
    conn: asyncpg.Connection, schema: str, lock: int, erase: Callable[[asyncpg.Connection], Awaitable[T]], absent: T
) -> T:
    """Run `erase` on a projection's checkpoint (`schema`, a copy of its tables with the residents'
    rows) in the caller's transaction: after any checkpoint being copied (`lock`, shared; the copy
    holds it exclusively), so the new copy is the one erased. `absent` when there is no checkpoint."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock)
    if not await conn.fetchval("SELECT to_regnamespace($1) IS NOT NULL", schema):
        return absent
    path = await conn.fetchval("SELECT current_setting('search_path')")
    await conn.execute(f"SET LOCAL search_path TO {schema}")
    try:
        return await erase(conn)
    finally:
        await conn.execute("SELECT set_config('search_path', $1, true)", path)


async def run_statements(conn: asyncpg.Connection, resident_id: str, alias: str, statements: Iterable[str]) -> int:
    """The erasure statements alone (no receipt, no audit): rows changed. A statement on a table the
    database lacks (a service's migration not yet run) changes nothing."""
    rows = 0
    for statement in statements:
        if await audit.table_exists(conn, table_of(statement)):
            args = (resident_id, alias) if "$2" in statement else (resident_id,)
            rows += _count(await conn.execute(statement, *args))
    return rows


def table_of(statement: str) -> str:
    words = statement.split()
    for i, word in enumerate(words):
        if word.upper() in ("FROM", "UPDATE", "INTO"):
            return words[i + 1].split("(", 1)[0]
    raise ValueError(f"no table in {statement!r}")


def _count(status: str) -> int:
    # asyncpg returns the command tag: "UPDATE 3", "DELETE 1", "INSERT 0 1"
    return int(status.rsplit(" ", 1)[-1])


async def completion(
    conn: asyncpg.Connection, service: str, request_id: uuid.UUID, *, source: str, correlation_id: str | None = None
) -> Envelope:
    """The service's `resident.erasure_completed` for `request_id`, from its receipt (rows, time),
    for the outbox of the transaction that erased: published if and only if the erasure commits.
    Names the request, never the resident."""
    row = await conn.fetchrow("SELECT erased_rows, erased_at FROM erasure_receipts WHERE request_id = $1", request_id)
    data = ERASURE_COMPLETED[service](
        request_id=request_id, service=service, rows=row["erased_rows"], completed_at=row["erased_at"]
    )
    return envelop(data, source=source, correlation_id=correlation_id)


# --- late events of an erased card (ADR 10, amendment) ---------------------------------------------
# An attendance already in flight, or redelivered, when resident.erased arrived would write the
# resident's rows again under the card number. Scoring and the passport keep a keyed hash of each
# erased card (`erased_cards`), never the card: the key is derived from the street's LS_JWT_SECRET
# per service and stays outside the database, so the table alone cannot tell whether a given card
# was erased, and two services' tables do not join.


@dataclass(frozen=True)
class ErasedCards:
    key: bytes

    @classmethod
    def for_service(cls, jwt_secret: str, service: str) -> ErasedCards:
        purpose = f"learnstreet erased cards v1 {service}".encode()
        return cls(hmac.new(jwt_secret.encode(), purpose, hashlib.sha256).digest())

    def hash(self, resident_id: str) -> bytes:
        return hmac.new(self.key, resident_id.encode(), hashlib.sha256).digest()

    async def remember(self, conn: asyncpg.Connection, resident_id: str, request_id: uuid.UUID) -> None:
        await conn.execute(
            "INSERT INTO erased_cards(card_hash, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.hash(resident_id),
            request_id,
        )

    async def among(self, conn: asyncpg.Connection, resident_ids: Iterable[str]) -> set[str]:
        """The ids among `resident_ids` that were erased: one query per batch."""
        by_hash = {self.hash(r): r for r in set(resident_ids)}
        if not by_hash:
            return set()
        rows = await conn.fetch("SELECT card_hash FROM erased_cards WHERE card_hash = ANY($1::bytea[])", list(by_hash))
        return {by_hash[bytes(r["card_hash"])] for r in rows}
