"""The asyncpg pool every service uses."""

from __future__ import annotations

import asyncpg
import orjson


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(
            json_type, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def _light_reset(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    # on every release: one extra round trip per request. Our code holds no session-level state
    # across a release (advisory locks are transaction-scoped or released explicitly, no cursors,
    # LISTEN or SET), so only a transaction left open would need undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, application_name: str = "learnstreet"
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_light_reset,
        command_timeout=30,
        server_settings={"application_name": application_name},
    )
