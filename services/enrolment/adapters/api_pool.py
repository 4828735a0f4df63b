"""The HTTP API's own connection pool, so request latency never queues behind consumer batches
and the outbox relay on the shared pool."""

from __future__ import annotations

import asyncpg

from shared.db.pool import create_pool


async def create_api_pool(dsn: str, size: int) -> asyncpg.Pool:
    return await create_pool(dsn, min_size=size, max_size=size, application_name="learnstreet-enrolment-api")
