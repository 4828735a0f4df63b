"""A private copy of scoring's tables in the real scoring database, for in-process tests that run
several scoring instances at once without touching the live service's rows: every public table
is recreated empty (`LIKE … INCLUDING ALL`) in a schema of the test's own, and the pools it hands
out have that schema first on their search_path (the repository uses unqualified names, as the
rebuild does). The live outbox relay reads `public.outbox`, so what the test publishes stays here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db.pool import _init_connection
from tests.support import env


class PrivateSchema:
    def __init__(self, name: str) -> None:
        self.name = name
        self.pools: list[asyncpg.Pool] = []

    async def pool(self, *, size: int = 1) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            env()["SCORING_DATABASE_URL"], min_size=size, max_size=size, init=_init_connection,
            server_settings={"search_path": f"{self.name}, public", "application_name": f"test-{self.name}"},
        )  # fmt: skip
        self.pools.append(pool)
        return pool

    async def connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(env()["SCORING_DATABASE_URL"], server_settings={"search_path": self.name})
        await _init_connection(conn)
        return conn


@asynccontextmanager
async def private_schema() -> AsyncIterator[PrivateSchema]:
    schema = PrivateSchema(f"scoring_test_{uuid.uuid4().hex[:10]}")
    admin = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    try:
        await admin.execute(f"CREATE SCHEMA {schema.name}")
        tables = await admin.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        for t in tables:
            await admin.execute(
                f"CREATE TABLE {schema.name}.{t['tablename']} (LIKE public.{t['tablename']} INCLUDING ALL)"
            )
        yield schema
    finally:
        for pool in schema.pools:
            pool.terminate()
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")
        await admin.close()
