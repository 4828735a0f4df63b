"""The check-in path's transactional outbox: one row per batch, published from memory after commit.

Why not the shared outbox: per event it costs an INSERT with two index entries and a jsonb parse,
then a SELECT, a publish and a DELETE by the relay; measured, that was more than half of a
check-in batch and the relay could not keep up (~1,750 events/s). Here a batch's events are one
`bytea` row written in the batch's own transaction (so they exist iff the attendance does); after
the commit the consumer hands them to `CheckinOutbox`, whose single task publishes them (acks=all,
idempotent producer), waits for Kafka's acknowledgement and deletes the row. The consumer's
offsets are committed after the hand-off, not after the publish: the row is the guarantee.

Rows left behind (a crash between commit and publish, Kafka unavailable, an instance that died)
are published by `sweep`, run by every instance. `FOR UPDATE SKIP LOCKED` makes sure two
instances never publish the same row at the same time; a crash after the publish and before the
delete publishes the events again, and their deterministic ids let consumers' inboxes drop them.
One task publishes the batches of an instance in commit order, so per-key order holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter, Gauge

from shared.bus.producer import Producer
from shared.events import codec
from shared.events.codec import Wire as OutEvent
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "learnstreet_activities_checkin_outbox_published_total",
    "Events of the check-in outbox published to Kafka, by path (after_commit, sweep).",
    ["path"],
)
FAILURES = Counter(
    "learnstreet_activities_checkin_outbox_publish_errors_total", "Failed attempts to publish a check-in outbox batch."
)
QUEUED = Gauge(
    "learnstreet_activities_checkin_outbox_queued_batches", "Committed check-in batches waiting to be published."
)


async def write(conn: asyncpg.Connection, events: list[OutEvent]) -> int:
    """Store a batch's events in the caller's transaction, packed by the codec; returns the row id."""
    return await conn.fetchval(
        "INSERT INTO checkin_outbox(events, n_events) VALUES ($1, $2) RETURNING id", codec.pack(events), len(events)
    )


@dataclass
class _Batch:
    row_id: int
    events: list[OutEvent]


class CheckinOutbox:
    def __init__(
        self,
        settings: ServiceSettings,
        pool_getter,
        *,
        max_queued: int = 8,
        sweep_every_s: float = 2.0,
        sweep_older_than_s: float = 5.0,
    ) -> None:
        self._pool_getter = pool_getter
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=max_queued)
        self.sweep_every_s = sweep_every_s
        self.sweep_older_than_s = sweep_older_than_s
        self._producer = Producer(settings, role="checkin-outbox", linger_ms=5, max_batch_size=1 << 20)
        self._partition_lists: dict[str, list[int]] = {}
        self._partitions: dict[tuple[str, bytes], int] = {}
        self._task: asyncio.Task | None = None

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._pool_getter()

    async def start(self) -> None:
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name="checkin-outbox")

    async def stop(self) -> None:
        """Publish what is queued (consumers have stopped by now), then stop; what cannot be
        published within a few seconds stays in the table for the next sweep."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.join(), 10)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._producer.stop()

    async def after_commit(self, row_id: int, events: list[OutEvent]) -> None:
        """Hand a committed batch's events over; waits when publishing lags (back-pressure on the
        consumer rather than unbounded memory)."""
        await self._queue.put(_Batch(row_id, events))
        QUEUED.set(self._queue.qsize())

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        # At start nothing is queued here: every row there is was left by an earlier life of this
        # instance (or by another one), so all of them are published at once, not after the delay.
        older_than = 0.0
        while True:
            if loop.time() >= next_sweep:
                # Also under steady load: rows of a crashed instance must not wait for a quiet moment.
                next_sweep = loop.time() + self.sweep_every_s
                try:
                    await self.sweep(older_than_s=older_than)
                    older_than = self.sweep_older_than_s
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    FAILURES.inc()
                    log.warning("check-in outbox sweep failed: %r", error)
                    await self._producer.recover(error)
            try:
                batch = await asyncio.wait_for(self._queue.get(), max(0.0, next_sweep - loop.time()))
            except TimeoutError:
                continue
            batches = [batch]
            while not self._queue.empty() and len(batches) < 16:
                batches.append(self._queue.get_nowait())
            # Retry until published: the queue (and so the consumer) waits meanwhile, and the rows
            # stay in the table should the process die.
            while True:
                try:
                    await self._publish_rows(batches)
                    failures = 0
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    failures += 1
                    FAILURES.inc()
                    log.warning("publishing check-in events failed (%d in a row): %r", failures, error)
                    await self._producer.recover(error)
                    await asyncio.sleep(min(5.0, 0.1 * 2**failures))
            for _ in batches:
                self._queue.task_done()
            QUEUED.set(self._queue.qsize())

    async def _publish_rows(self, batches: list[_Batch]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            mine = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM checkin_outbox WHERE id = ANY($1::bigint[]) FOR UPDATE SKIP LOCKED",
                    [b.row_id for b in batches],
                )
            }
            # A row not returned was taken by another instance's sweep (or is gone): it publishes it.
            events = [e for b in batches if b.row_id in mine for e in b.events]
            await self._send(events)
            await conn.execute("DELETE FROM checkin_outbox WHERE id = ANY($1::bigint[])", list(mine))
        PUBLISHED.labels("after_commit").inc(len(events))

    async def _send(self, events: list[OutEvent]) -> None:
        """Publish and wait for Kafka's acknowledgement of every event. One record batch per
        partition instead of one `send()` per event: a future, a metadata wait and a partitioner
        call per event were a quarter of the service's CPU per check-in."""
        producer = self._producer.client
        futures = []
        open_batches: dict[tuple[str, int], object] = {}
        for topic, key, headers, body in events:
            partition = await self._partition(topic, key)
            batch = open_batches.get((topic, partition))
            if batch is None:
                batch = open_batches[(topic, partition)] = producer.create_batch()
            if batch.append(timestamp=None, key=key, value=body, headers=headers) is None:  # full
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = producer.create_batch()
                if batch.append(timestamp=None, key=key, value=body, headers=headers) is None:
                    raise ValueError(f"event of {len(body)} bytes larger than a record batch")
        for (topic, partition), batch in open_batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        if futures:
            await asyncio.gather(*futures)

    async def _partition(self, topic: str, key: bytes) -> int:
        """The partition the producer's default partitioner (murmur2 of the key, as the Java client)
        would choose; memoised, as residents check in again and again."""
        partitions = self._partition_lists.get(topic)
        if partitions is None:
            partitions = self._partition_lists[topic] = sorted(await self._producer.client.partitions_for(topic))
            self._partitions.clear()
        found = self._partitions.get((topic, key))
        if found is None:
            if len(self._partitions) > 200_000:
                self._partitions.clear()
            found = self._partitions[(topic, key)] = DefaultPartitioner()(key, partitions, partitions)
        return found

    async def sweep(self, limit: int = 8, older_than_s: float | None = None) -> int:
        """Publish rows nobody is publishing (older than `sweep_older_than_s`), oldest first;
        returns how many events were published."""
        age = self.sweep_older_than_s if older_than_s is None else older_than_s
        total = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    """SELECT id, events FROM checkin_outbox
                       WHERE created_at < now() - make_interval(secs => $1)
                       ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    age,
                    limit,
                )
                if not rows:
                    return total
                events = [e for r in rows for e in codec.unpack(r["events"])]
                await self._send(events)
                await conn.execute("DELETE FROM checkin_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
            PUBLISHED.labels("sweep").inc(len(events))
            total += len(events)
