"""`python -m services.enrolment rebuild-passports`: replay activities.attendance and
scoring.honours into fresh passport tables, compare them with the live ones, optionally swap.

The same steps as scoring's rebuild (services/scoring/cli.py), while the live service runs:
1. creates the passport tables afresh in a shadow schema of this run (`LIKE … INCLUDING ALL`);
2. reads every partition from the beginning by manual assignment (no consumer group moves) and
   applies the records with the live passport dispatcher on connections whose search_path is the
   shadow schema, up to the offsets the live consumer has stored in `passport_offsets`;
3. takes the passport lock exclusively (every live batch holds it shared, so the live consumer
   pauses between two batches), replays the last records up to the live offsets, compares the
   rows both ways, and with --swap moves the shadow tables into `public` in ONE transaction; the
   shadow offsets equal the live ones then, so the live consumer just continues.
Prints `REBUILD-PASSPORTS equal=<bool> swapped=<bool> records=<n>`; exit 0 when equal, 1 when not,
3 when another rebuild runs.
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

from services.enrolment.adapters import passport as repository
from services.enrolment.config import EnrolmentSettings, settings
from services.enrolment.entrypoints.consumers import PASSPORT_TOPICS, rebuild_dispatcher
from services.enrolment.service_layer.passport import check_event
from shared.bus.consumer import is_transient
from shared.bus.decoding import DeadLetter, decode_event
from shared.db.pool import create_pool
from shared.db.uow import UnitOfWorkFactory
from shared.events.topics import TOPICS_BY_NAME

app = typer.Typer(add_completion=False, help="learnstreet enrolment: operator commands.")
_RUN = f"{os.getpid()}_{secrets.token_hex(3)}"
SHADOW = f"passport_rebuild_{_RUN}"
RETIRED = f"passport_retired_{_RUN}"


@app.callback()
def main() -> None:
    """Operator commands of the enrolment service."""


@app.command("rebuild-passports")
def rebuild_passports(
    swap: bool = typer.Option(False, help="Swap the rebuilt tables in (else: build and compare only)."),
    batch_size: int = typer.Option(5000, min=100, help="Records per transaction."),
) -> None:
    """Replay the topics into shadow passport tables and compare them with the live ones."""
    result = asyncio.run(run_rebuild(settings(), swap=swap, batch_size=batch_size))
    print(
        f"replayed {result['records']} records ({result['dead_letters']} dead letters) in {result['seconds']:.1f} s; "
        f"rows live {result['live_rows']} rebuilt {result['rebuilt_rows']}",
        file=sys.stderr,
    )
    for table, lines in result["differences"].items():
        for line in lines:
            print(f"  {table} {line}", file=sys.stderr)
    print(f"REBUILD-PASSPORTS equal={result['equal']} swapped={result['swapped']} records={result['records']}")
    sys.exit(0 if result["equal"] else 1)


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

    async def replay_to(self, targets: dict[TopicPartition, int]) -> None:
        """Apply every record up to and including `targets[tp]`, and nothing past it."""
        pending = []
        while self.remaining(targets) > 0:
            wanted = [tp for tp, t in targets.items() if self.position.get(tp, 0) <= t]
            fetched = await self.consumer.getmany(*wanted, timeout_ms=500, max_records=self.batch_size)
            for tp, records in fetched.items():
                target = targets.get(tp, -1)
                for record in records:
                    if record.offset > target:
                        self.consumer.seek(tp, record.offset)  # a later, higher target re-reads it
                        break
                    self.position[tp] = record.offset + 1
                    self.records += 1
                    try:
                        event = decode_event(record)
                        check_event(event)
                    except DeadLetter:
                        self.dead += 1  # the live consumer dead-lettered it too
                        continue
                    pending.append(event)
            if not fetched:
                for tp in wanted:  # nothing left below the target (an offset gap)
                    if await self.consumer.position(tp) > targets[tp]:
                        self.position[tp] = targets[tp] + 1
            if len(pending) >= self.batch_size or (pending and self.remaining(targets) == 0):
                await _retrying(lambda batch=pending: self.apply(batch))
                pending = []
        if pending:
            await _retrying(lambda batch=pending: self.apply(batch))


async def _retrying(call, attempts: int = 8):
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if not is_transient(error) or attempt == attempts:
                raise
            await asyncio.sleep(min(5.0, 0.5 * 2**attempt))


def _targets(offsets: dict[tuple[str, int], int], partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    return {tp: offsets.get((tp.topic, tp.partition), -1) for tp in partitions}


async def _finish(live_pool, replayer: Replayer, partitions, swap: bool) -> tuple[dict, dict, dict, bool]:
    """Under the passport lock: the last records, the comparison and the swap (all or nothing)."""
    async with live_pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", repository.PASSPORT_LOCK)
        await replayer.replay_to(_targets(await repository.stored_offsets(conn), partitions))
        differences = await repository.differences(conn, "public", SHADOW)
        counts = (await repository.row_counts(conn, "public"), await repository.row_counts(conn, SHADOW))
        swapped = False
        if swap and not differences:
            await conn.execute(f"CREATE SCHEMA {RETIRED}")
            for table in repository.PROJECTION_TABLES:
                await conn.execute(f"ALTER TABLE public.{table} SET SCHEMA {RETIRED}")
                await conn.execute(f"ALTER TABLE {SHADOW}.{table} SET SCHEMA public")
            await conn.execute(f"DROP SCHEMA {RETIRED} CASCADE")
            swapped = True
        return differences, counts[0], counts[1], swapped


async def run_rebuild(s: EnrolmentSettings, *, swap: bool, batch_size: int) -> dict[str, Any]:
    dsn = s.database_url.get_secret_value()
    live_pool = await create_pool(dsn, min_size=1, max_size=3)
    shadow_pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=2,
        server_settings={"search_path": f"{SHADOW}, public", "application_name": "learnstreet-passport-rebuild"},
    )  # fmt: skip
    consumer = AIOKafkaConsumer(
        **s.kafka_client_kwargs(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    started = time.perf_counter()
    guard = await live_pool.acquire()
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", repository.REBUILD_LOCK):
            print("another passport rebuild is running; try again when it has finished", file=sys.stderr)
            raise typer.Exit(3)
        async with live_pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
            await conn.execute(f"CREATE SCHEMA {SHADOW}")
            for table in repository.PROJECTION_TABLES:
                await conn.execute(f"CREATE TABLE {SHADOW}.{table} (LIKE public.{table} INCLUDING ALL)")
        await consumer.start()
        partitions = [TopicPartition(t, p) for t in PASSPORT_TOPICS for p in range(TOPICS_BY_NAME[t].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        replayer = Replayer(consumer, rebuild_dispatcher(UnitOfWorkFactory(shadow_pool)), batch_size)
        replayer.position = dict(await consumer.beginning_offsets(partitions))
        while True:  # catch up without pausing the live consumer until little is left
            async with live_pool.acquire() as conn:
                targets = _targets(await repository.stored_offsets(conn), partitions)
            if replayer.remaining(targets) < batch_size:
                break
            await replayer.replay_to(targets)
        differences, live_rows, rebuilt_rows, swapped = await _retrying(
            lambda: _finish(live_pool, replayer, partitions, swap)
        )
        async with live_pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    finally:
        await consumer.stop()
        await shadow_pool.close()
        with contextlib.suppress(Exception):
            await guard.execute("SELECT pg_advisory_unlock_all()")
            await live_pool.release(guard)
        await live_pool.close()
    return {
        "records": replayer.records, "dead_letters": replayer.dead, "seconds": time.perf_counter() - started,
        "equal": not differences, "differences": differences, "swapped": swapped,
        "live_rows": live_rows, "rebuilt_rows": rebuilt_rows,
    }  # fmt: skip
