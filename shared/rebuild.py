"""Rebuild a projection from its topics while the live service keeps running.

A projection here is a set of tables a service folds events into, with the offsets it applied
stored in the same transactions (scoring's index, enrolment's passports). The rebuild:
1. creates the projection's tables afresh in a shadow schema of this run (`LIKE … INCLUDING ALL`);
2. reads every partition of the projection's topics from the beginning by manual assignment (no
   consumer group, so nothing of the live group moves) and applies the records with the live
   service's own dispatcher on connections whose search_path is the shadow schema;
3. replays up to the offsets the live service has stored, re-reading them until the remaining gap
   is smaller than one batch;
4. takes the projection lock exclusively (every live batch holds it shared, so the live consumer
   pauses between two batches), replays the last records up to the live offsets, compares the
   rebuilt tables with the live ones, and on `swap` moves the shadow tables into `public` and the
   old ones out in ONE transaction. The shadow offsets equal the live ones at that moment, so the
   live consumer simply continues: anything redelivered at or below them is skipped.

Schema names carry the run's pid and a random tag: a concurrent rebuild (whose guard lock may have
vanished with a terminated connection) can never drop or swap another run's shadow tables.

Checkpoints (ADR 0010, amendment 2026-12-06): `take_checkpoint` copies the projection's tables, its
offsets included, into `<name>_checkpoint` from one REPEATABLE READ snapshot (every live batch
commits its rows and offsets together, so the copy is consistent and the live consumer never
waits). `run(from_checkpoint=True)` starts the shadow tables from that copy and replays only the
records after its offsets: the rebuild then needs the topics' history since the checkpoint, not
since the beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shared import metrics
from shared.bus.consumer import is_transient
from shared.bus.decoding import DeadLetter, decode_event
from shared.db.pool import create_pool
from shared.db.uow import UnitOfWorkFactory
from shared.events.topics import TOPICS_BY_NAME
from shared.periodic import Periodic

log = logging.getLogger(__name__)
StoredOffsets = dict[tuple[str, int], int]
Targets = dict[TopicPartition, int]


class RebuildBusy(Exception):
    """Another rebuild of the same projection holds its guard lock."""


class HistoryMissing(Exception):
    """A partition of the projection's topics no longer starts at offset 0: its first records were
    deleted (retention, DeleteRecords), so a replay would rebuild tables that lack them."""


def check_full_history(name: str, beginnings: dict[TopicPartition, int]) -> None:
    """Refuse (HistoryMissing, one line) when a partition's first offset is above 0. The topics a
    rebuild reads keep everything (`replayed_by` in shared/events/topics.py; provisioning refuses
    a finite retention on them) until snapshots exist: ADR 0010, decision 5."""
    cut = sorted((tp.topic, tp.partition, offset) for tp, offset in beginnings.items() if offset > 0)
    if not cut:
        return
    topic, partition, offset = cut[0]
    more = f" (and {len(cut) - 1} more partition{'s' if len(cut) > 2 else ''})" if len(cut) > 1 else ""
    raise HistoryMissing(
        f"the {name} rebuild needs the full history of its topics, but {topic} partition {partition} starts at "
        f"offset {offset}{more}: the records before were deleted (retention or DeleteRecords) and the rebuilt "
        "tables would lack them, so nothing was replayed or swapped; a rebuild --from-checkpoint needs only the "
        "records after its checkpoint (docs/decisions/0010-erasure.md)"
    )


class NoCheckpoint(Exception):
    """A rebuild from a checkpoint was asked for and the projection has none."""


def checkpoint_schema(projection_name: str) -> str:
    return f"{projection_name}_checkpoint"


def check_history_since(name: str, beginnings: dict[TopicPartition, int], positions: dict[TopicPartition, int]) -> None:
    """Refuse (HistoryMissing, one line) when a partition's first retained offset is past the first
    record the rebuild must replay after its checkpoint."""
    cut = sorted((tp.topic, tp.partition, offset, positions[tp]) for tp, offset in beginnings.items()
                 if offset > positions[tp])  # fmt: skip
    if not cut:
        return
    topic, partition, offset, needed = cut[0]
    more = f" (and {len(cut) - 1} more partition{'s' if len(cut) > 2 else ''})" if len(cut) > 1 else ""
    raise HistoryMissing(
        f"the {name} rebuild from its checkpoint needs {topic} partition {partition} from offset {needed}, but it "
        f"starts at offset {offset}{more}: records after the checkpoint were deleted; take checkpoints more often "
        "than the topics' retention (docs/decisions/0010-erasure.md)"
    )


@dataclass(frozen=True)
class CheckpointTarget:
    """What a checkpoint copies (a Projection has the same fields): a running service keeps its
    checkpoint fresh without the rebuild's dispatcher and comparison (CheckpointSchedule)."""

    name: str
    tables: Sequence[str]
    rebuild_lock: int
    stored_offsets: Callable[[asyncpg.Connection], Awaitable[StoredOffsets]]
    checkpoint_lock: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    schema: str
    rows: int
    records: int  # records of the topics the checkpoint covers (its offsets + 1, summed)
    seconds: float


async def take_checkpoint(projection: Projection | CheckpointTarget, dsn: str) -> Checkpoint:
    """Copy the projection's tables into `<name>_checkpoint`, replacing the previous checkpoint in
    the same transaction (a failed copy leaves the old one). Holds the rebuild lock: never beside a
    rebuild of the same projection (RebuildBusy)."""
    started = time.perf_counter()
    final = checkpoint_schema(projection.name)
    building = f"{final}_next"
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", projection.rebuild_lock):
            raise RebuildBusy(projection.name)
        if projection.checkpoint_lock is not None:
            # before the snapshot: an erasure in progress commits first, and is in the copy
            await conn.execute("SELECT pg_advisory_lock($1)", projection.checkpoint_lock)
        async with conn.transaction(isolation="repeatable_read"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {building} CASCADE")
            await conn.execute(f"CREATE SCHEMA {building}")
            rows = 0
            for table in projection.tables:
                await conn.execute(f"CREATE TABLE {building}.{table} (LIKE public.{table} INCLUDING ALL)")
                status = await conn.execute(f"INSERT INTO {building}.{table} SELECT * FROM public.{table}")
                rows += int(status.rsplit(" ", 1)[-1])
            await conn.execute(f"DROP SCHEMA IF EXISTS {final} CASCADE")
            await conn.execute(f"ALTER SCHEMA {building} RENAME TO {final}")
            # when: the schedule's measure of its age (`checkpoint_taken_at`)
            await conn.execute(f"COMMENT ON SCHEMA {final} IS 'taken_at {time.time():.3f}'")
            await conn.execute(f"SET LOCAL search_path TO {final}")
            offsets = await projection.stored_offsets(conn)
        return Checkpoint(final, rows, sum(o + 1 for o in offsets.values()), time.perf_counter() - started)
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock_all()")
        await conn.close()


def checkpoint_command(target: CheckpointTarget, dsn: str, console: Console, busy: str) -> None:
    """A service's `checkpoint` command: takes it and prints what it copied, then
    `CHECKPOINT rows=<n> records=<n>`; exit 3 (`busy` printed) when a rebuild or another checkpoint
    of the projection runs."""
    try:
        taken = asyncio.run(take_checkpoint(target, dsn))
    except RebuildBusy:
        console.print(busy)
        raise SystemExit(3) from None
    console.print(f"{taken.schema}: {taken.rows} rows covering {taken.records} records in {taken.seconds:.1f} s")
    print(f"CHECKPOINT rows={taken.rows} records={taken.records}")


async def checkpoint_taken_at(conn: asyncpg.Connection, projection_name: str) -> float | None:
    """When the projection's checkpoint was taken (epoch seconds), None without one."""
    comment = await conn.fetchval(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
        checkpoint_schema(projection_name),
    )
    if not comment or not comment.startswith("taken_at "):
        return None
    try:
        return float(comment.removeprefix("taken_at "))
    except ValueError:
        return None


class CheckpointSchedule:
    """Keeps a projection's checkpoint no older than `every_s` (0: off) in a running service: looks
    every `look_s` and takes one when the last is older or missing. Any replica may: the rebuild
    lock lets one at a time, the others find it fresh (or busy) at their next look.

    With `topics` and `kafka` (the service's client settings) it also checks, at every look, that
    Kafka still holds what a rebuild would replay (`learnstreet_rebuild_history_complete`): the
    records after the checkpoint, or every record without one. Provisioning lets a replayed topic
    expire records only when its retention covers three checkpoint intervals, but it reads its own
    environment: a service run with checkpoints off or rarer, a retention set by hand or a
    DeleteRecords breaks the bargain, and only this says so before the day a rebuild is needed."""

    def __init__(
        self,
        target: CheckpointTarget,
        dsn: str,
        every_s: float,
        look_s: float = 60.0,
        *,
        topics: Sequence[str] = (),
        kafka: dict[str, Any] | None = None,
    ) -> None:
        self.target, self.dsn, self.every_s, self.look_s = target, dsn, every_s, look_s
        self.topics, self.kafka = list(topics), kafka
        self._missing: str | None = None  # what the last look found missing, logged once
        watched = bool(self.topics) and kafka is not None
        # off when there is neither a checkpoint to take nor a history to watch
        every = min(look_s, every_s) if every_s > 0 else look_s if watched else 0
        self._rounds = Periodic(f"checkpoint-{target.name}", self.look, every)

    async def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()

    async def look(self) -> None:
        """One look: a checkpoint if due, then the history a rebuild would replay."""
        await self.once()
        if self.topics and self.kafka is not None:
            await self.history_complete()

    async def once(self) -> Checkpoint | None:
        """Takes a checkpoint if the last is older than `every_s`; the one taken, or None."""
        if self.every_s <= 0:
            return None
        conn = await asyncpg.connect(self.dsn)
        try:
            taken_at = await checkpoint_taken_at(conn, self.target.name)
        finally:
            await conn.close()
        if taken_at is not None and time.time() - taken_at < self.every_s:
            metrics.CHECKPOINT_TAKEN.labels(self.target.name).set(taken_at)
            return None
        try:
            taken = await take_checkpoint(self.target, self.dsn)
        except RebuildBusy:
            return None  # a rebuild or another replica's checkpoint: look again later
        metrics.CHECKPOINT_TAKEN.labels(self.target.name).set(time.time())
        log.info("checkpoint %s: %d rows covering %d records in %.1f s", taken.schema, taken.rows, taken.records,
                 taken.seconds)  # fmt: skip
        return taken

    async def history_complete(self) -> bool:
        """Whether Kafka still holds what a rebuild would replay; sets the gauge, and logs once
        (the rebuild's own refusal) when it does not."""
        conn = await asyncpg.connect(self.dsn)
        try:
            offsets = await _checkpoint_offsets_or_none(conn, self.target)
        finally:
            await conn.close()
        beginnings = await _beginning_offsets(self.kafka or {}, self.topics)
        try:
            if offsets is None:
                check_full_history(self.target.name, beginnings)
            else:
                check_history_since(self.target.name, beginnings, positions_after(offsets, list(beginnings)))
        except HistoryMissing as missing:
            metrics.REBUILD_HISTORY_COMPLETE.labels(self.target.name).set(0)
            if str(missing) != self._missing:
                log.warning("%s", missing)
            self._missing = str(missing)
            return False
        metrics.REBUILD_HISTORY_COMPLETE.labels(self.target.name).set(1)
        self._missing = None
        return True


def positions_after(offsets: StoredOffsets, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The first offset a rebuild from a checkpoint replays per partition: after the last applied,
    0 where the checkpoint applied nothing."""
    return {tp: offsets.get((tp.topic, tp.partition), -1) + 1 for tp in partitions}


async def _checkpoint_offsets_or_none(
    conn: asyncpg.Connection, target: CheckpointTarget | Projection
) -> StoredOffsets | None:
    schema = checkpoint_schema(target.name)
    if not await conn.fetchval("SELECT to_regnamespace($1) IS NOT NULL", schema):
        return None
    async with conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        return await target.stored_offsets(conn)


async def _beginning_offsets(kafka: dict[str, Any], topics: Sequence[str]) -> dict[TopicPartition, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.beginning_offsets(partitions)) if partitions else {}
    finally:
        await consumer.stop()


async def checkpoint_offsets(conn: asyncpg.Connection, projection: Projection) -> StoredOffsets:
    offsets = await _checkpoint_offsets_or_none(conn, projection)
    if offsets is None:
        schema = checkpoint_schema(projection.name)
        raise NoCheckpoint(
            f"the {projection.name} projection has no checkpoint ({schema}): take one first with its service's "
            "checkpoint command (python -m services.scoring checkpoint, python -m services.enrolment "
            "checkpoint-passports)"
        )
    return offsets


@dataclass(frozen=True)
class Comparison:
    differences: list[str]  # one line per difference; empty when the rebuilt tables equal the live ones
    details: dict[str, Any] = field(default_factory=dict)  # figures worth printing (row counts, …)


@dataclass(frozen=True)
class Projection:
    """What a service tells the rebuild about one of its projections."""

    name: str  # prefix of the shadow schemas and the connections' application name
    topics: Sequence[str]
    tables: Sequence[str]  # every table the dispatcher writes, its offsets table included
    lock: int  # advisory lock every live batch holds shared
    rebuild_lock: int  # one rebuild of this projection at a time
    stored_offsets: Callable[[asyncpg.Connection], Awaitable[StoredOffsets]]
    dispatcher: Callable[[UnitOfWorkFactory], Callable[[list], Awaitable[Any]]]
    check: Callable[[Any], None]  # raises DeadLetter for what the live consumer dead-letters too
    # (live connection inside the swap transaction, a connection on the shadow schema, shadow schema name)
    compare: Callable[[asyncpg.Connection, asyncpg.Connection, str], Awaitable[Comparison]]
    swap_when_different: bool  # scoring's index is rebuilt to repair it; passports only swap when equal
    # held exclusively while a checkpoint is copied; an erasure holds it shared while it erases the
    # checkpoint's copy, so a checkpoint never copies rows an erasure is about to erase
    checkpoint_lock: int | None = None


@dataclass(frozen=True)
class Result:
    records: int
    dead_letters: int
    seconds: float
    comparison: Comparison
    swapped: bool

    @property
    def equal(self) -> bool:
        return not self.comparison.differences

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class Replayer:
    """Applies the records of assigned partitions in batches up to target offsets, never past them."""

    def __init__(self, consumer: AIOKafkaConsumer, apply, check, batch_size: int, on_retry=None) -> None:
        self.consumer = consumer
        self.apply = apply
        self.check = check
        self.batch_size = batch_size
        self.on_retry = on_retry
        self.position: dict[TopicPartition, int] = {}  # next offset to apply
        self.records = 0
        self.dead = 0

    def remaining(self, targets: Targets) -> int:
        return sum(max(0, t + 1 - self.position.get(tp, 0)) for tp, t in targets.items())

    async def replay_to(self, targets: Targets, advance: Callable[[int], None] | None = None) -> None:
        """Apply every record up to and including `targets[tp]`, and nothing past it."""
        pending = []
        while self.remaining(targets) > 0:
            wanted = [tp for tp, t in targets.items() if self.position.get(tp, 0) <= t]
            fetched = await self.consumer.getmany(*wanted, timeout_ms=500, max_records=self.batch_size)
            for tp, records in fetched.items():
                target = targets.get(tp, -1)
                for record in records:
                    if record.offset > target:
                        # Fetched past the target: rewind so a later, higher target re-reads it.
                        self.consumer.seek(tp, record.offset)
                        break
                    self.position[tp] = record.offset + 1
                    self.records += 1
                    try:
                        event = decode_event(record)
                        self.check(event)
                    except DeadLetter:
                        self.dead += 1  # the live consumer dead-lettered it too
                        continue
                    pending.append(event)
            if not fetched:
                # Nothing more to read below a target (e.g. an offset gap): the position says so.
                for tp in wanted:
                    if await self.consumer.position(tp) > targets[tp]:
                        self.position[tp] = targets[tp] + 1
            if len(pending) >= self.batch_size or (pending and self.remaining(targets) == 0):
                await retrying(lambda batch=pending: self.apply(batch), on_retry=self.on_retry)
                pending = []
            if advance:
                advance(self.records)
        if pending:
            await retrying(lambda batch=pending: self.apply(batch), on_retry=self.on_retry)


async def retrying(call, attempts: int = 8, on_retry: Callable[[BaseException], None] | None = None):
    """Retries a step after a transient failure (database restarted, connection terminated): each
    step is one transaction and the shadow offsets make re-applying harmless."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if not is_transient(error) or attempt == attempts:
                raise
            if on_retry:
                on_retry(error)
            await asyncio.sleep(min(5.0, 0.5 * 2**attempt))


def targets_from(offsets: StoredOffsets, partitions: list[TopicPartition]) -> Targets:
    return {tp: offsets.get((tp.topic, tp.partition), -1) for tp in partitions}


class Rebuild:
    """One run of the rebuild of one projection (its own shadow and retired schema names)."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        run = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.shadow = f"{projection.name}_rebuild_{run}"
        self.retired = f"{projection.name}_retired_{run}"

    async def run(
        self,
        *,
        dsn: str,
        kafka_kwargs: dict[str, Any],
        swap: bool,
        batch_size: int,
        console: Console | None = None,
        progress: bool = False,
        from_checkpoint: bool = False,
    ) -> Result:
        p = self.projection
        console = console or Console(stderr=True)
        live_pool = await create_pool(dsn, min_size=1, max_size=3)
        on_shadow = {"search_path": f"{self.shadow}, public", "application_name": f"learnstreet-{p.name}-rebuild"}
        shadow_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings=on_shadow)
        consumer = AIOKafkaConsumer(
            **kafka_kwargs, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        started = time.perf_counter()
        guard = await live_pool.acquire()
        try:
            if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", p.rebuild_lock):
                raise RebuildBusy(p.name)
            await consumer.start()
            partitions = [TopicPartition(t, n) for t in p.topics for n in range(TOPICS_BY_NAME[t].partitions)]
            consumer.assign(partitions)
            beginnings = dict(await consumer.beginning_offsets(partitions))
            starts, checkpoint = beginnings, None
            if from_checkpoint:
                async with live_pool.acquire() as conn:
                    covered = await checkpoint_offsets(conn, p)
                checkpoint = checkpoint_schema(p.name)
                starts = positions_after(covered, partitions)
                check_history_since(p.name, beginnings, starts)  # before anything is created
            else:
                check_full_history(p.name, beginnings)  # before anything is created
            async with live_pool.acquire() as conn:
                await self._prepare_shadow(conn, checkpoint)
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            on_retry = lambda error: console.print(f"transient failure ({type(error).__name__}: {error}); retrying")  # noqa: E731
            replayer = Replayer(consumer, p.dispatcher(UnitOfWorkFactory(shadow_pool)), p.check, batch_size, on_retry)
            replayer.position = dict(starts)

            async def stored_targets() -> Targets:
                async with live_pool.acquire() as conn:
                    return targets_from(await p.stored_offsets(conn), partitions)

            targets = await retrying(stored_targets)
            bar = Progress(
                TextColumn(f"rebuilding {p.name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console, disable=not progress,
            )  # fmt: skip
            with bar:
                task = bar.add_task("replay", total=replayer.remaining(targets))
                advance = lambda n: bar.update(task, completed=n)  # noqa: E731
                # Catch up without pausing the live service until only a little is left.
                while replayer.remaining(targets) >= batch_size:
                    await replayer.replay_to(targets, advance=advance)
                    targets = await retrying(stored_targets)
                    bar.update(task, total=replayer.records + replayer.remaining(targets))
                comparison, swapped = await retrying(
                    lambda: self._finish(live_pool, shadow_pool, replayer, partitions, swap, advance)
                )
            async with live_pool.acquire() as conn:
                await conn.execute(f"DROP SCHEMA IF EXISTS {self.shadow} CASCADE")
        finally:
            await consumer.stop()
            await shadow_pool.close()
            with contextlib.suppress(Exception):  # a terminated connection has lost the lock anyway
                await guard.execute("SELECT pg_advisory_unlock_all()")
                await live_pool.release(guard)
            await live_pool.close()
        return Result(replayer.records, replayer.dead, time.perf_counter() - started, comparison, swapped)

    async def _prepare_shadow(self, conn: asyncpg.Connection, checkpoint: str | None = None) -> None:
        """Empty shadow tables, or with `checkpoint` the checkpoint's rows (the columns both have: a
        column added by a migration since the checkpoint takes its default)."""
        await conn.execute(f"DROP SCHEMA IF EXISTS {self.shadow} CASCADE")
        await conn.execute(f"CREATE SCHEMA {self.shadow}")
        for table in self.projection.tables:
            await conn.execute(f"CREATE TABLE {self.shadow}.{table} (LIKE public.{table} INCLUDING ALL)")
            if checkpoint is None:
                continue
            columns = await conn.fetchval(
                """SELECT string_agg(quote_ident(s.column_name), ', ' ORDER BY s.ordinal_position)
                   FROM information_schema.columns s JOIN information_schema.columns c
                     ON c.table_schema = $2 AND c.table_name = s.table_name AND c.column_name = s.column_name
                   WHERE s.table_schema = $1 AND s.table_name = $3""",
                self.shadow, checkpoint, table,
            )  # fmt: skip
            if columns:
                await conn.execute(
                    f"INSERT INTO {self.shadow}.{table} ({columns}) SELECT {columns} FROM {checkpoint}.{table}"
                )

    async def _finish(self, live_pool, shadow_pool, replayer: Replayer, partitions, swap: bool, advance):
        """Under the projection lock: replay the last records, compare, and swap (all or nothing)."""
        p = self.projection
        async with live_pool.acquire() as conn, conn.transaction():
            # Pauses the live consumer between two batches until this transaction ends.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", p.lock)
            await replayer.replay_to(targets_from(await p.stored_offsets(conn), partitions), advance=advance)
            async with shadow_pool.acquire() as shadow:
                comparison = await p.compare(conn, shadow, self.shadow)
            swapped = False
            if swap and (p.swap_when_different or not comparison.differences):
                await conn.execute(f"CREATE SCHEMA {self.retired}")
                for table in p.tables:
                    await conn.execute(f"ALTER TABLE public.{table} SET SCHEMA {self.retired}")
                    await conn.execute(f"ALTER TABLE {self.shadow}.{table} SET SCHEMA public")
                await conn.execute(f"DROP SCHEMA {self.retired} CASCADE")
                swapped = True
            return comparison, swapped
