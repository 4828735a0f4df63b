"""The outbox relay: publishes the events services wrote to their `outbox` table.

Rows are read in id order under a transaction-level advisory lock, so several relays (several
instances of a service) never publish the same rows at once and per-key order holds. Rows are
deleted only after Kafka acknowledged all of them (acks=all, idempotent producer); a crash in
between publishes them again, and consumers' inboxes drop the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from shared import metrics
from shared.bus.producer import Producer as Publisher

log = logging.getLogger(__name__)
_RELAY_LOCK = 0x0B7B_0C5


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: Publisher,
        signal: asyncio.Event,
        *,
        batch_size: int = 5000,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.signal = signal
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._task: asyncio.Task | None = None

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published (0: nothing, or locked)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, headers, payload FROM outbox ORDER BY id LIMIT $1", self.batch_size
            )
            if not rows:
                metrics.OUTBOX_BACKLOG.set(0)
                return 0
            futures = [
                await self.broker.publish(
                    row["payload"], row["topic"], key=row["key"], headers=row["headers"], no_confirm=True
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()
        return len(rows)

    async def backlog(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox")

    async def run(self) -> None:
        failures = 0
        while True:
            self.signal.clear()
            try:
                published = await self.publish_pending()
                failures = 0
                if published >= self.batch_size:
                    continue
                metrics.OUTBOX_BACKLOG.set(await self.backlog())
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                metrics.OUTBOX_PUBLISH_ERRORS.inc()
                log.warning("outbox relay failed (%d in a row): %r", failures, error)
                await self.broker.recover(error)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.signal.wait(), self.poll_interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is None:
            return
        # One last drain so a graceful stop leaves nothing behind that Kafka could take now.
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.publish_pending(), 5)
