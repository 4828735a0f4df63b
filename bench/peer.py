"""Runs the Quix Streams peer (bench/quix/app.py) on the attendance range our scoring step consumed.

Set-up, all the bench's own: a virtual environment for Quix (its pydantic pin conflicts with the
services'), a database `learnstreet_bench` (schema bench_quix) made with the PostgreSQL superuser,
a fresh consumer group pointed at the range's start offsets. Quix runs as the Kafka admin
principal because it creates its changelog and repartition topics through the admin API (the
broker does not auto-create topics); those topics are deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bench import env
from bench.memory import rss_mib

QUIX_VENV = env.BENCH_DIR / "quix-venv"
REQUIREMENTS = env.ROOT / "bench" / "quix" / "requirements.txt"
DATABASE = "learnstreet_bench"
TABLE = "bench_quix.attendance_counts"
STALL_S = 60.0  # no committed progress for this long: restart the app from its committed offsets


@dataclass
class PeerRun:
    count: int
    seconds: float
    attendances: int  # the sum of the counts it upserted (deduplicated recorded attendances)
    peak_rss_mib: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


def ensure_venv() -> str:
    python = QUIX_VENV / "bin" / "python"
    marker = QUIX_VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if not python.exists() or not marker.exists() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(wanted)
    return str(python)


async def ensure_database() -> str:
    admin = await asyncpg.connect(env.superuser_dsn("postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    dsn = env.superuser_dsn(DATABASE)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"""CREATE SCHEMA IF NOT EXISTS bench_quix;
                CREATE TABLE IF NOT EXISTS {TABLE} (
                    community_id text NOT NULL, audience_group text NOT NULL, attendances bigint NOT NULL,
                    PRIMARY KEY (community_id, audience_group));
                TRUNCATE {TABLE};"""
        )
    finally:
        await conn.close()
    return dsn


async def _sink_total(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT coalesce(sum(attendances), 0) FROM {TABLE}"))
    finally:
        await conn.close()


async def run(start: dict[TopicPartition, int], end: dict[TopicPartition, int], *, timeout_s: float = 600) -> PeerRun:
    python = ensure_venv()
    dsn = await ensure_database()
    group = f"bench.quix-{uuid.uuid4().hex[:8]}"
    state_dir = env.BENCH_DIR / "quix-state" / group
    await env.commit_group_offsets(group, start)
    c = env.credentials()
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP": c["KAFKA_BOOTSTRAP"],
        "QUIX_KAFKA_USERNAME": c["KAFKA_ADMIN_USERNAME"],
        "QUIX_KAFKA_PASSWORD": c["KAFKA_ADMIN_PASSWORD"],
    }
    try:
        for attempt in range(1, 4):
            try:
                seconds, peak = await _run_once(python, group, state_dir, dsn, end, environment, timeout_s)
                break
            except PeerExited:
                # A first start creates Quix's changelog and repartition topics; it may fail while
                # their leaders are being elected (NOT_LEADER_FOR_PARTITION). Nothing was checkpointed
                # (exactly-once), so the next start resumes from the same committed offsets.
                shutil.rmtree(state_dir, ignore_errors=True)
                if attempt == 3:
                    raise
                await asyncio.sleep(2)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        await _delete_internal_topics(group)
    count = sum(end[tp] - start[tp] for tp in end)
    return PeerRun(count=count, seconds=seconds, attendances=await _sink_total(dsn), peak_rss_mib=peak)


class PeerExited(RuntimeError):
    pass


async def _run_once(
    python: str, group: str, state_dir, dsn: str, end: dict[TopicPartition, int], environment: dict, timeout_s: float
) -> tuple[float, float]:
    """One start of the Quix app until its group has committed `end`; (seconds from start, peak RSS)."""
    log = (env.BENCH_DIR / "quix.log").open("ab")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        python, str(env.ROOT / "bench" / "quix" / "app.py"), "--group", group, "--state-dir", str(state_dir),
        "--dsn", dsn, "--table", TABLE,
        cwd=env.ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    peak = 0.0
    try:
        async with env.GroupWatcher(group) as watch:
            tps = list(end)
            last_position, last_progress = -1, time.monotonic()
            while True:
                if process.returncode is not None:
                    raise PeerExited(f"Quix peer exited with {process.returncode}; see .local/bench/quix.log")
                peak = max(peak, rss_mib(process.pid) or 0.0)
                if time.monotonic() - last_progress > STALL_S:
                    raise PeerExited(f"Quix peer made no progress for {STALL_S:.0f} s (broker restarted?)")
                try:
                    committed = await asyncio.wait_for(watch.committed(tps), 15)
                    position = sum(committed.values())
                    if position != last_position:
                        last_position, last_progress = position, time.monotonic()
                    # The input consumed, the counts are committed once the second hop (the group-by
                    # repartition topic, written in the same transactions) is consumed to its end too.
                    if all(committed[tp] >= end[tp] for tp in tps) and await asyncio.wait_for(
                        _repartition_done(watch, group), 15
                    ):
                        return time.monotonic() - started, peak
                except TimeoutError:
                    pass  # the broker is unreachable (another engineer's broker-restart test): keep polling
                if time.monotonic() - started > timeout_s:
                    raise TimeoutError(f"Quix peer not done within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _repartition_done(watch: env.GroupWatcher, group: str) -> bool:
    internal = [t for t in await watch.topics() if group in t and t.startswith("repartition")]
    for topic in internal:
        end = await watch.end_offsets(topic)
        committed = await watch.committed(list(end))
        if any(not transactional_partition_done(committed[tp], end[tp]) for tp in end):
            return False
    return bool(internal)


def transactional_partition_done(committed: int, end: int) -> bool:
    """Whether a consumer has processed every record of a partition written only in transactions.
    Such a partition ends with a commit marker, which takes an offset but is never delivered, so the
    committed position stops one short of the end offset; an open transaction leaves it ≥ 2 short."""
    return committed >= end - 1


async def _delete_internal_topics(group: str) -> None:
    admin = AIOKafkaAdminClient(**env.kafka_auth("admin"))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if group in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
