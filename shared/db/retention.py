"""Bounded state: the inbox, activities' check-in ledger and notify's message history are pruned,
but only where a redelivery can no longer need them.

A row written because a record was consumed (an inbox event id, a ledger check-in id, a message)
is what recognises that record when Kafka delivers it again. Deleting it is safe only once no
redelivery of the record can reach the handlers. Two rules make that so:

1. Marks. Each service stores, per consumer group and partition, the offset the group had
   committed in Kafka (`consumer_marks`, read by this task). Every record below it was applied or
   dead-lettered: the consumer commits only after both (shared/bus/consumer.py). The dispatcher
   skips records below the mark (`ConsumerMarks.read`), so when a group's offsets expire or are
   reset and it starts again from the earliest retained record, what it had already applied is
   not applied again, whether or not its inbox or ledger rows still exist. Marks never move back.
2. Safe-before time. A pruned row must belong to a record below the marks; the tables keep no
   offsets, so the task proves it by time: it reads the clock, then every partition's end
   (last stable offset); once the marks reach those ends, every record consumed before that
   time is below them, and so is every row written before it (rows are stamped by the database
   after their record was consumed). Rows older than both that time and the table's retention
   are deleted in small batches.

The marks are stored under an exclusive advisory lock that every dispatcher takes shared while it
reads them, so after the store no batch holding older marks is still running when rows go.

One instance prunes at a time (a session advisory lock); every instance measures table sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import Counter, Gauge

from shared.periodic import Periodic
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

MARKS_LOCK = 0x1EA7_5710  # exclusive while marks are stored, shared while a batch reads them
PRUNE_LOCK = 0x1EA7_5711  # one pruning instance per database

Partition = tuple[str, int]
# (group, topics) -> (end offsets, committed offsets), each per partition
KafkaReader = Callable[[str, Sequence[str]], Awaitable[tuple[dict[Partition, int], dict[Partition, int]]]]

TABLE_ROWS = Gauge(
    "learnstreet_table_rows",
    "Rows in a table of the service's database (PostgreSQL's estimate, refreshed by autovacuum).",
    ["service", "table"],
)
TABLE_BYTES = Gauge("learnstreet_table_size_bytes", "Size of a table with its indexes and TOAST.", ["service", "table"])
ROWS_PRUNED = Counter(
    "learnstreet_rows_pruned_total", "Rows deleted by the retention task, by table.", ["service", "table"]
)
SAFE_BEFORE = Gauge(
    "learnstreet_retention_safe_before_timestamp_seconds",
    "Rows written before this time are below every partition's mark and may be pruned (0: not yet known).",
    ["service"],
)


@dataclass(frozen=True)
class PrunedTable:
    """`statement` deletes one batch: $1 the retention cutoff, $2 the safe-before time, $3 the
    batch size; every row it deletes must have been written before $2."""

    name: str
    retention_days: Callable[[ServiceSettings], float]
    statement: str


INBOX = PrunedTable(
    "inbox",
    lambda s: s.retention_inbox_days,
    """DELETE FROM inbox WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM inbox WHERE received_at < $1 AND received_at < $2 LIMIT $3))""",
)


# Audit rows record requests, not consumed records, so no redelivery needs them; `at < $2` only
# keeps the statement within the contract every pruned table follows.
ACCESS_AUDIT = PrunedTable(
    "access_audit",
    lambda s: s.retention_audit_days,
    """DELETE FROM access_audit WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM access_audit WHERE at < $1 AND at < $2 LIMIT $3))""",
)


@dataclass(frozen=True)
class Sweep:
    pending_at: datetime | None
    pending_ends: dict[Partition, int] = field(default_factory=dict)
    safe_before: datetime | None = None


def covered(ends: Mapping[Partition, int], marks: Mapping[Partition, int]) -> bool:
    """Every partition's mark has reached the end read earlier (an empty partition needs none)."""
    return all(marks.get(p, 0) >= end for p, end in ends.items())


def next_sweep(
    previous: Sweep | None, marks: Mapping[Partition, int], now: datetime, ends: Mapping[Partition, int]
) -> Sweep:
    """The previous reading of the ends becomes the safe-before time once the marks cover it; the
    ends read now wait for a later round. The safe-before time never moves back."""
    safe = previous.safe_before if previous is not None else None
    if previous is not None and previous.pending_at is not None and covered(previous.pending_ends, marks):
        safe = previous.pending_at if safe is None else max(safe, previous.pending_at)
    return Sweep(pending_at=now, pending_ends=dict(ends), safe_before=safe)


def earliest(times: Iterable[datetime | None]) -> datetime | None:
    """Rows of a shared table (the inbox) may come from any group: the earliest time bounds them
    all, and a group with none yet blocks pruning."""
    times = list(times)
    if not times or any(t is None for t in times):
        return None
    return min(times)  # type: ignore[type-var]


class ConsumerMarks:
    """What the dispatcher asks before applying a batch: the marks of its partitions."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id

    async def read(self, conn: asyncpg.Connection, partitions: Iterable[Partition]) -> dict[Partition, int]:
        keys = sorted(set(partitions))
        # Held until the batch commits: the retention task stores newer marks only after it.
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", MARKS_LOCK)
        rows = await conn.fetch(
            """SELECT m.topic, m."partition", m.next_offset FROM consumer_marks m
               JOIN unnest($2::text[], $3::int[]) AS k(tp, p) ON m.topic = k.tp AND m."partition" = k.p
               WHERE m.group_id = $1""",
            self.group_id,
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


class KafkaOffsets:
    """Reads a group's committed offsets and its partitions' last stable offsets with the
    service's own principal (its ACLs allow describing its group and topics)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def __call__(self, group_id: str, topics: Sequence[str]) -> tuple[dict[Partition, int], dict[Partition, int]]:
        kwargs = self.settings.kafka_client_kwargs()
        consumer = AIOKafkaConsumer(**kwargs, group_id=None, enable_auto_commit=False, isolation_level="read_committed")
        admin = AIOKafkaAdminClient(**kwargs)
        await consumer.start()
        try:
            await admin.start()
            try:
                described = await admin.describe_topics(list(topics))
                tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
                ends = await consumer.end_offsets(tps) if tps else {}
                committed = await admin.list_consumer_group_offsets(group_id, partitions=tps) if tps else {}
            finally:
                await admin.close()
        finally:
            await consumer.stop()
        return (
            {(tp.topic, tp.partition): int(o) for tp, o in ends.items()},
            {(tp.topic, tp.partition): m.offset for tp, m in committed.items() if m.offset >= 0},
        )


class Retention:
    """The periodic task the runtime starts: marks, pruning, table sizes."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: Callable[[], asyncpg.Pool],
        groups: Callable[[], Mapping[str, Sequence[str]]],
        tables: Sequence[PrunedTable],
        *,
        kafka: KafkaReader | None = None,
        measured: Sequence[str] = ("outbox", "dead_letter_quarantine"),
    ) -> None:
        self.settings = settings
        self.service = settings.service
        self._pool = pool
        self._groups = groups
        self.tables = list(tables)
        self._kafka = kafka or KafkaOffsets(settings)
        self.measured = [t.name for t in self.tables] + [m for m in measured if m not in {t.name for t in tables}]
        self._rounds = Periodic(f"{self.service}-retention", self.tick, settings.retention_interval_s)
        for table in self.tables:
            ROWS_PRUNED.labels(self.service, table.name).inc(0)

    def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()

    async def tick(self) -> dict[str, int]:
        """One round; returns the rows pruned per table (nothing when another instance holds the
        pruning lock)."""
        pruned: dict[str, int] = {}
        async with self._pool().acquire() as conn:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", PRUNE_LOCK):
                try:
                    safe = await self._advance(conn)
                    SAFE_BEFORE.labels(self.service).set(safe.timestamp() if safe else 0)
                    if safe is not None:
                        pruned = await self._prune(conn, safe)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK)
            await self._measure(conn)
        return pruned

    async def _advance(self, conn: asyncpg.Connection) -> datetime | None:
        safe_times = []
        for group_id, topics in sorted(self._groups().items()):
            # The clock first, then the ends: a record consumed before `started` is below them.
            started = await conn.fetchval("SELECT clock_timestamp()")
            ends, committed = await self._kafka(group_id, sorted(set(topics)))
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MARKS_LOCK)
                if committed:
                    keys = list(committed)
                    await conn.execute(
                        """INSERT INTO consumer_marks(group_id, topic, "partition", next_offset)
                           SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
                           ON CONFLICT (group_id, topic, "partition") DO UPDATE
                               SET next_offset = GREATEST(consumer_marks.next_offset, EXCLUDED.next_offset),
                                   marked_at = now()""",
                        group_id, [k[0] for k in keys], [k[1] for k in keys], [committed[k] for k in keys],
                    )  # fmt: skip
                rows = await conn.fetch(
                    'SELECT topic, "partition", next_offset FROM consumer_marks WHERE group_id = $1', group_id
                )
                marks = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
                row = await conn.fetchrow(
                    "SELECT pending_at, pending_ends, safe_before FROM retention_sweeps WHERE group_id = $1 FOR UPDATE",
                    group_id,
                )
                previous = None
                if row is not None:
                    ends_before = {(t, int(p)): int(o) for t, p, o in (row["pending_ends"] or [])}
                    previous = Sweep(row["pending_at"], ends_before, row["safe_before"])
                sweep = next_sweep(previous, marks, started, ends)
                await conn.execute(
                    """INSERT INTO retention_sweeps(group_id, pending_at, pending_ends, safe_before)
                       VALUES ($1, $2, $3::jsonb, $4)
                       ON CONFLICT (group_id) DO UPDATE SET pending_at = EXCLUDED.pending_at,
                           pending_ends = EXCLUDED.pending_ends, safe_before = EXCLUDED.safe_before""",
                    group_id, sweep.pending_at, [[t, p, o] for (t, p), o in sorted(sweep.pending_ends.items())],
                    sweep.safe_before,
                )  # fmt: skip
            safe_times.append(sweep.safe_before)
        return earliest(safe_times)

    async def _prune(self, conn: asyncpg.Connection, safe: datetime) -> dict[str, int]:
        now = await conn.fetchval("SELECT now()")
        batch = self.settings.retention_batch_rows
        pruned = {}
        for table in self.tables:
            cutoff = now - timedelta(days=table.retention_days(self.settings))
            total = 0
            while True:  # small transactions: writers never wait long behind a prune
                status = await conn.execute(table.statement, cutoff, safe, batch)
                n = int(status.rsplit(" ", 1)[-1])
                total += n
                ROWS_PRUNED.labels(self.service, table.name).inc(n)
                if n < batch:
                    break
            pruned[table.name] = total
            if total:
                log.info("pruned %d rows of %s written before %s", total, table.name, min(cutoff, safe).isoformat())
        return pruned

    async def _measure(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            """SELECT t, pg_total_relation_size(c.oid) AS bytes, c.reltuples::bigint AS estimate
               FROM unnest($1::text[]) AS t JOIN pg_class c ON c.oid = to_regclass(t)""",
            self.measured,
        )
        for r in rows:
            estimate = r["estimate"]
            if estimate < 0:  # never analysed yet: small and young, so count
                estimate = await conn.fetchval(f'SELECT count(*) FROM "{r["t"]}"')
            TABLE_ROWS.labels(self.service, r["t"]).set(estimate)
            TABLE_BYTES.labels(self.service, r["t"]).set(r["bytes"])
