"""`python -m services.scoring rebuild`: replay the topics into fresh tables and swap them in.

How it works, while the live service keeps running:
1. Creates the projection tables afresh in a shadow schema of its own (`LIKE … INCLUDING ALL`).
2. Reads every partition of the consumed topics from the beginning by manual assignment (no
   consumer group, so nothing of the live group moves) and applies the records with the live
   service's own dispatcher (handler table, attendance projector, stored offsets), on connections
   whose search_path is the shadow schema.
3. Replays up to the offsets the live service has stored in `consumer_offsets`, re-reading them
   until the remaining gap is small.
4. Takes the projection lock exclusively (every live batch holds it shared, so the live consumer
   pauses between two batches), replays the last few records up to the live offsets, compares
   the rebuilt index with the live one, and with --swap moves the shadow tables into `public`
   and the old ones out in ONE transaction. The shadow `consumer_offsets` equal the live ones at
   that moment, so the live consumer simply continues: what it already committed to Kafka is at
   or below them, and anything redelivered at or below them is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from typing import Any

import asyncpg
import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.scoring.adapters import repository
from services.scoring.bootstrap import build_engine
from services.scoring.config import ScoringSettings, settings
from services.scoring.entrypoints.consumers import TOPICS, rebuild_dispatcher
from services.scoring.service_layer.attendance import check_attendance
from shared.bus.consumer import is_transient
from shared.bus.decoding import DeadLetter, decode_event
from shared.db.pool import create_pool
from shared.db.uow import UnitOfWorkFactory
from shared.events.envelope import utcnow
from shared.events.topics import TOPICS_BY_NAME

app = typer.Typer(add_completion=False, help="learnstreet scoring: operator commands.")
# Names of this run's own schemas: a concurrent rebuild (whose guard lock may have vanished with a
# terminated connection) can never drop or swap another run's shadow tables.
_RUN = f"{os.getpid()}_{secrets.token_hex(3)}"
SHADOW = f"scoring_rebuild_{_RUN}"
RETIRED = f"scoring_retired_{_RUN}"
REBUILD_LOCK = 0x5C0_12F
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Operator commands of the scoring service."""


@app.command()
def rebuild(
    swap: bool = typer.Option(True, help="Swap the rebuilt tables in (else: build and compare only)."),
    batch_size: int = typer.Option(5000, min=100, help="Records per transaction."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Replay the topics from the beginning into shadow tables, compare with the live index, swap."""
    result = asyncio.run(run_rebuild(settings(), swap=swap, batch_size=batch_size, progress=not quiet))
    console.print(
        f"replayed {result['records']} records in {result['seconds']:.1f} s "
        f"({result['rate']:.0f} records/s); index equal to live: {result['equal']}; swapped: {result['swapped']}"
    )
    if not result["equal"]:
        for line in result["differences"][:20]:
            console.print(f"  differs: {line}")
    print(f"REBUILD equal={result['equal']} swapped={result['swapped']} records={result['records']}")
    sys.exit(0 if result["equal"] else 1)


def _kafka(s: ScoringSettings) -> dict[str, Any]:
    return s.kafka_client_kwargs()


async def _prepare_shadow(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    await conn.execute(f"CREATE SCHEMA {SHADOW}")
    for table in repository.PROJECTION_TABLES:
        await conn.execute(f"CREATE TABLE {SHADOW}.{table} (LIKE public.{table} INCLUDING ALL)")


class Replayer:
    def __init__(self, consumer: AIOKafkaConsumer, apply, batch_size: int) -> None:
        self.consumer = consumer
        self.apply = apply
        self.batch_size = batch_size
        self.position: dict[TopicPartition, int] = {}  # next offset to apply
        self.records = 0
        self.dead = 0

    def remaining(self, targets: dict[TopicPartition, int]) -> int:
        return sum(max(0, t + 1 - self.position.get(tp, 0)) for tp, t in targets.items())

    async def replay_to(self, targets: dict[TopicPartition, int], advance=None) -> None:
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
                        check_attendance(event)
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
                await _retrying(lambda batch=pending: self.apply(batch))
                pending = []
            if advance:
                advance(self.records)
        if pending:
            await _retrying(lambda batch=pending: self.apply(batch))


async def _finish(live_pool, shadow_pool, engine, replayer, partitions, swap, bar, task) -> tuple[list[str], bool]:
    """Under the projection lock: replay the last records, compare, and swap (all or nothing)."""
    async with live_pool.acquire() as conn, conn.transaction():
        # Pauses the live consumer between two batches until this transaction ends.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", repository.PROJECTION_LOCK)
        targets = _live_targets(await repository.stored_offsets(conn), partitions)
        bar.update(task, total=replayer.records + replayer.remaining(targets))
        await replayer.replay_to(targets, advance=lambda n: bar.update(task, completed=n))
        now = utcnow()
        live_view = await engine.compute(conn, now)
        async with shadow_pool.acquire() as shadow:
            rebuilt_view = await engine.compute(shadow, now)
        differences = _differences(live_view, rebuilt_view)
        swapped = False
        if swap:
            await conn.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE")
            await conn.execute(f"CREATE SCHEMA {RETIRED}")
            for table in repository.PROJECTION_TABLES:
                await conn.execute(f"ALTER TABLE public.{table} SET SCHEMA {RETIRED}")
                await conn.execute(f"ALTER TABLE {SHADOW}.{table} SET SCHEMA public")
            await conn.execute(f"DROP SCHEMA {RETIRED} CASCADE")
            swapped = True
        return differences, swapped


async def _stored(pool) -> dict[tuple[str, int], int]:
    async with pool.acquire() as conn:
        return await repository.stored_offsets(conn)


async def _retrying(call, attempts: int = 8):
    """Retries a step after a transient failure (database restarted, connection terminated): each
    step is one transaction and the shadow offsets make re-applying harmless."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if not is_transient(error) or attempt == attempts:
                raise
            console.print(f"transient failure ({type(error).__name__}: {error}); retrying")
            await asyncio.sleep(min(5.0, 0.5 * 2**attempt))


def _live_targets(offsets: dict[tuple[str, int], int], partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    return {tp: offsets.get((tp.topic, tp.partition), -1) for tp in partitions}


def _differences(live: dict[str, Any], rebuilt: dict[str, Any]) -> list[str]:
    out = []
    for community, view in live.items():
        other = rebuilt.get(community)
        for aspect, other_aspect in zip(view["aspects"], other["aspects"], strict=True):
            for leaf, other_leaf in zip(aspect["indicators"], other_aspect["indicators"], strict=True):
                a = (leaf.get("numerator"), leaf.get("denominator"), leaf["score"])
                b = (other_leaf.get("numerator"), other_leaf.get("denominator"), other_leaf["score"])
                if a != b:
                    out.append(f"{community} {leaf['id']}: live {a} rebuilt {b}")
    return out


async def run_rebuild(s: ScoringSettings, *, swap: bool, batch_size: int, progress: bool) -> dict[str, Any]:
    engine = build_engine(s)
    dsn = s.database_url.get_secret_value()
    live_pool = await create_pool(dsn, min_size=1, max_size=3)
    shadow_pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=2, server_settings={"search_path": f"{SHADOW}, public",
                                                     "application_name": "learnstreet-scoring-rebuild"}
    )  # fmt: skip
    consumer = AIOKafkaConsumer(**_kafka(s), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    started = time.perf_counter()
    guard = await live_pool.acquire()
    try:
        # One rebuild at a time (no wasted work); the schemas are per run anyway.
        if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK):
            raise typer.Exit(console.print("another rebuild is running; try again when it has finished") or 3)
        async with live_pool.acquire() as conn:
            await _prepare_shadow(conn)
        await consumer.start()
        partitions = [TopicPartition(t, p) for t in TOPICS for p in range(TOPICS_BY_NAME[t].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        replayer = Replayer(consumer, rebuild_dispatcher(UnitOfWorkFactory(shadow_pool)), batch_size)
        replayer.position = dict(beginnings)
        async with live_pool.acquire() as conn:
            targets = _live_targets(await repository.stored_offsets(conn), partitions)
        bar = Progress(
            TextColumn("rebuilding scoring index"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, disable=not progress,
        )  # fmt: skip
        with bar:
            task = bar.add_task("replay", total=replayer.remaining(targets))
            # Catch up without pausing the live service until only a little is left.
            while True:
                await replayer.replay_to(targets, advance=lambda n: bar.update(task, completed=n))
                targets = _live_targets(await _retrying(lambda: _stored(live_pool)), partitions)
                left = replayer.remaining(targets)
                bar.update(task, total=replayer.records + left)
                if left < batch_size:
                    break
            differences, swapped = await _retrying(
                lambda: _finish(live_pool, shadow_pool, engine, replayer, partitions, swap, bar, task)
            )
        async with live_pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    finally:
        await consumer.stop()
        await shadow_pool.close()
        with contextlib.suppress(Exception):  # a terminated connection has lost the lock anyway
            await guard.execute("SELECT pg_advisory_unlock_all()")
            await live_pool.release(guard)
        await live_pool.close()
    seconds = time.perf_counter() - started
    return {
        "records": replayer.records, "dead_letters": replayer.dead, "seconds": seconds,
        "rate": replayer.records / seconds if seconds else 0.0, "equal": not differences,
        "differences": differences, "swapped": swapped,
    }  # fmt: skip
