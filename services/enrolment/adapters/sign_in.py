"""SQL of residents' sign-in (migration 0008_sign_in.sql): the live code of each phone and the
code requests of the last hour."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.enrolment.domain.sign_in import StoredCode


async def residents_with_phone(conn: asyncpg.Connection, spellings: list[str]) -> list[str]:
    rows = await conn.fetch(
        """SELECT resident_id FROM residents
           WHERE phone IS NOT NULL AND regexp_replace(phone, '[ -]', '', 'g') = ANY($1::text[])
           ORDER BY resident_id""",
        spellings,
    )
    return [r["resident_id"] for r in rows]


async def lock_buckets(conn: asyncpg.Connection, *buckets: bytes) -> None:
    """Serialises concurrent requests of one phone (and one address), so that two at once count as
    two; the transaction's end releases it. Taken in a fixed order: no deadlock between two."""
    for bucket in sorted(buckets):
        # the keyed hash's first 8 bytes: uniform, so another lock's key is a 2^-64 chance
        await conn.execute("SELECT pg_advisory_xact_lock($1)", int.from_bytes(bucket[:8], "big", signed=True))


async def recent_requests(conn: asyncpg.Connection, bucket: bytes, now: datetime) -> list[datetime]:
    await conn.execute(
        "DELETE FROM sign_in_requests WHERE bucket = $1 AND requested_at <= $2", bucket, now - timedelta(hours=1)
    )
    rows = await conn.fetch("SELECT requested_at FROM sign_in_requests WHERE bucket = $1", bucket)
    return [r["requested_at"] for r in rows]


async def add_request(conn: asyncpg.Connection, buckets: list[bytes], now: datetime) -> None:
    await conn.executemany(
        "INSERT INTO sign_in_requests(bucket, requested_at) VALUES ($1, $2)", [(b, now) for b in buckets]
    )


async def replace_code(
    conn: asyncpg.Connection, phone_hash: bytes, resident_ids: list[str], code_hash: bytes, now: datetime,
    expires_at: datetime,
) -> None:  # fmt: skip
    """The phone's new code: the one before it is dead, whatever its state."""
    await conn.execute(
        """INSERT INTO sign_in_codes(phone_hash, resident_ids, code_hash, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (phone_hash) DO UPDATE SET resident_ids = EXCLUDED.resident_ids,
               code_hash = EXCLUDED.code_hash, created_at = EXCLUDED.created_at,
               expires_at = EXCLUDED.expires_at, attempts = 0, used_at = NULL""",
        phone_hash, resident_ids, code_hash, now, expires_at,
    )  # fmt: skip
    # Dead codes of other phones go as codes come: the table holds about the live ones.
    await conn.execute("DELETE FROM sign_in_codes WHERE expires_at < $1", now - timedelta(hours=1))


async def code_for_update(conn: asyncpg.Connection, phone_hash: bytes) -> StoredCode | None:
    row = await conn.fetchrow(
        """SELECT resident_ids, code_hash, expires_at, attempts, used_at IS NOT NULL AS used
           FROM sign_in_codes WHERE phone_hash = $1 FOR UPDATE""",
        phone_hash,
    )
    if row is None:
        return None
    return StoredCode(
        tuple(row["resident_ids"]), bytes(row["code_hash"]), row["expires_at"], row["attempts"], row["used"]
    )


async def count_wrong_attempt(conn: asyncpg.Connection, phone_hash: bytes) -> None:
    await conn.execute("UPDATE sign_in_codes SET attempts = attempts + 1 WHERE phone_hash = $1", phone_hash)


async def mark_used(conn: asyncpg.Connection, phone_hash: bytes, now: datetime) -> None:
    await conn.execute("UPDATE sign_in_codes SET used_at = $2 WHERE phone_hash = $1", phone_hash, now)
