"""SQL of kiosk signing keys and of the venues' deadlines for unsigned check-ins (migration 0010).

Read per check-in batch, not cached: a key an operator retires on one instance must stop verifying
on every instance at once, and the two indexed lookups cost well under a millisecond per batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.activities.domain.signing import KioskKey


async def active_keys(conn: asyncpg.Connection, kiosk_ids: Sequence[str]) -> dict[str, list[KioskKey]]:
    rows = await conn.fetch(
        """SELECT key_id, kiosk_id, public_key FROM kiosk_keys
           WHERE kiosk_id = ANY($1::text[]) AND retired_at IS NULL""",
        list(kiosk_ids),
    )
    out: dict[str, list[KioskKey]] = {}
    for r in rows:
        out.setdefault(r["kiosk_id"], []).append(KioskKey(r["key_id"], r["kiosk_id"], bytes(r["public_key"])))
    return out


async def unsigned_deadlines(conn: asyncpg.Connection, venue_ids: Sequence[str]) -> dict[str, datetime]:
    rows = await conn.fetch(
        "SELECT venue_id, accepted_until FROM venue_unsigned_checkins WHERE venue_id = ANY($1::text[])",
        list(venue_ids),
    )
    return {r["venue_id"]: r["accepted_until"] for r in rows}


async def kiosk_exists(conn: asyncpg.Connection, kiosk_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM kiosks WHERE kiosk_id = $1", kiosk_id))


async def venue_exists(conn: asyncpg.Connection, venue_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM venues WHERE venue_id = $1", venue_id))


async def register(conn: asyncpg.Connection, key: KioskKey, by: str) -> tuple[KioskKey, bool]:
    """(the stored key, True when it was added now). The key id is derived from the public key, so
    registering one key twice is a no-op; the same key for another kiosk is refused by the caller."""
    row = await conn.fetchrow(
        """INSERT INTO kiosk_keys(key_id, kiosk_id, public_key, registered_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (key_id) DO NOTHING RETURNING key_id""",
        key.key_id,
        key.kiosk_id,
        key.public_key,
        by,
    )
    if row is not None:
        return key, True
    stored = await conn.fetchrow(
        "SELECT key_id, kiosk_id, public_key, retired_at FROM kiosk_keys WHERE key_id=$1", key.key_id
    )
    return KioskKey(stored["key_id"], stored["kiosk_id"], bytes(stored["public_key"])), False


async def keys_of(conn: asyncpg.Connection, kiosk_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT key_id, kiosk_id, public_key, registered_by, registered_at, retired_at FROM kiosk_keys
           WHERE kiosk_id = $1 ORDER BY registered_at, key_id""",
        kiosk_id,
    )


async def retire(conn: asyncpg.Connection, kiosk_id: str, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE kiosk_keys SET retired_at = coalesce(retired_at, now())
           WHERE kiosk_id = $1 AND key_id = $2
           RETURNING key_id, kiosk_id, public_key, registered_by, registered_at, retired_at""",
        kiosk_id,
        key_id,
    )


async def set_unsigned_deadline(conn: asyncpg.Connection, venue_id: str, until: datetime | None, by: str) -> None:
    if until is None:
        await conn.execute("DELETE FROM venue_unsigned_checkins WHERE venue_id = $1", venue_id)
        return
    await conn.execute(
        """INSERT INTO venue_unsigned_checkins(venue_id, accepted_until, set_by) VALUES ($1, $2, $3)
           ON CONFLICT (venue_id) DO UPDATE SET accepted_until = $2, set_by = $3, set_at = now()""",
        venue_id,
        until,
        by,
    )


async def unsigned_deadline(conn: asyncpg.Connection, venue_id: str) -> datetime | None:
    return await conn.fetchval("SELECT accepted_until FROM venue_unsigned_checkins WHERE venue_id = $1", venue_id)
