"""Sustained rate of attendance events through the scoring service, and the rebuild time.

    .venv/bin/python bench/scoring_throughput.py                 # N=200,000 while scoring runs
    .venv/bin/python bench/scoring_throughput.py --backlog       # stop scoring, produce N, restart, drain
    .venv/bin/python bench/scoring_throughput.py --rebuild 1000000   # + rebuild over ≥ 1M attendance events

"Committed" means: the scoring database's `consumer_offsets` (written in the same transaction as
the aggregates) reached the end offsets of activities.attendance after the last event was
produced; then the time until the API shows a recomputed index is reported too.
Runs only against the local stack (127.0.0.1) and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.events.catalogue import AttendanceRecorded  # noqa: E402
from shared.events.topics import ATTENDANCE  # noqa: E402
from tests.support import env, kafka_auth, restart_service, stop_service, token  # noqa: E402

COMMUNITIES = ["bainikeng", "egongling", "pinghu", "xinnan", "lichang", "hehua", "shanxia", "fuchengao",
               "liangantian", "xinmu", "shangmugu", "fenghuang"]  # fmt: skip
GROUPS = ["infant", "child", "adolescent", "adult", "elderly", "special"]


def records(n: int, run: str):
    """Pre-serialised AttendanceRecorded envelopes (the same headers and body the outbox writes)."""
    now = datetime.now(UTC)
    scanned = (now - timedelta(hours=1)).isoformat()
    source_time = now.isoformat()
    for i in range(n):
        resident = f"{run}-r{i % 50_000}"
        session = f"{run}-s{i // 40}"
        community = COMMUNITIES[i % 12]
        attendance_id = f"{resident}:{session}"
        data = {
            "attendance_id": attendance_id, "checkin_id": str(uuid.uuid4()), "resident_id": resident,
            "session_id": session, "course_id": f"{run}-c{i % 200}", "venue_id": f"{run}-v{i % 60}",
            "community_id": community, "resident_community_id": community, "audience_group": GROUPS[i % 6],
            "theme": "reading", "minutes": 60, "scanned_at": scanned,
        }  # fmt: skip
        headers = [
            ("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_type", AttendanceRecorded.type_name.encode()), ("ce_source", b"learnstreet/bench"),
            ("ce_time", source_time.encode()), ("ce_subject", resident.encode()),
            ("content-type", b"application/json"),
        ]  # fmt: skip
        yield resident.encode(), orjson.dumps(data), headers


async def produce(n: int, run: str) -> float:
    producer = AIOKafkaProducer(
        **kafka_auth("activities"), acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for key, value, headers in records(n, run):
            pending.append(await producer.send(ATTENDANCE.name, value, key=key, headers=headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def end_offsets() -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(**kafka_auth("activities"), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(ATTENDANCE.name, p) for p in range(ATTENDANCE.partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off - 1 for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def committed(db: asyncpg.Connection) -> dict[int, int]:
    rows = await db.fetch('SELECT partition, "offset" FROM consumer_offsets WHERE topic = $1', ATTENDANCE.name)
    return {r["partition"]: r["offset"] for r in rows}


def remaining(target: dict[int, int], done: dict[int, int]) -> int:
    return sum(max(0, t - done.get(p, -1)) for p, t in target.items())


async def drain(db, target: dict[int, int], timeout_s: float) -> tuple[float, float, float]:
    """Poll until committed; returns (time of first progress, time of completion, events drained)."""
    start_left = remaining(target, await committed(db))
    first = None
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        left = remaining(target, await committed(db))
        now = time.perf_counter()
        if first is None and left < start_left:
            first = now
        if left == 0:
            return first or now, now, start_left
        await asyncio.sleep(0.05)
    raise SystemExit(f"not committed within {timeout_s}s ({left} left)")


async def index_generation(http: httpx.AsyncClient) -> int:
    return (await http.get("/v1/index")).json()["generation"]


async def throughput(n: int, backlog: bool) -> None:
    e = env()
    db = await asyncpg.connect(e["SCORING_DATABASE_URL"])
    http = httpx.AsyncClient(base_url="http://127.0.0.1:8103", headers={"Authorization": f"Bearer {token('operator')}"})
    run = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        if backlog:
            await stop_service("scoring", signal.SIGTERM)
        t0 = time.perf_counter()
        produce_s = await produce(n, run)
        target = await end_offsets()
        print(f"produced {n} attendance events in {produce_s:.1f} s ({n / produce_s:,.0f}/s)")
        if backlog:
            await restart_service("scoring", signal.SIGTERM)
        first, done, drained = await drain(db, target, timeout_s=1200)
        gen = await index_generation(http)
        t_api = time.perf_counter()
        for _ in range(1000):  # the API serves a snapshot recomputed after the commit
            if await index_generation(http) > gen:
                break
            await asyncio.sleep(0.02)
        api_lag = time.perf_counter() - t_api
        if backlog:
            print(f"drained a backlog of {drained:,.0f} events in {done - first:.2f} s: "
                  f"{drained / max(done - first, 1e-9):,.0f} events/s sustained through scoring")  # fmt: skip
        else:
            print(f"all {n} committed {done - t0:.2f} s after the first was produced: "
                  f"{n / (done - t0):,.0f} events/s end to end (producer-bound if close to the producer rate); "
                  f"last {drained:,.0f} after production drained in {done - first:.2f} s")  # fmt: skip
        print(f"index recomputed and served {api_lag:.2f} s after the commit")
    finally:
        await http.aclose()
        await db.close()


async def rebuild(total: int) -> None:
    target = await end_offsets()
    have = sum(o + 1 for o in target.values())
    if have < total:
        missing = total - have
        secs = await produce(missing, f"bench-rb-{uuid.uuid4().hex[:8]}")
        print(f"produced {missing:,} more attendance events in {secs:.1f} s")
    db = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    try:
        await drain(db, await end_offsets(), timeout_s=1800)
    finally:
        await db.close()
    t0 = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.scoring", "rebuild", "--quiet", cwd=ROOT, env={**os.environ, **env()},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=3600)
    elapsed = time.perf_counter() - t0
    print(stderr.decode().strip())
    print(stdout.decode().strip())
    print(f"rebuild over ≥ {total:,} attendance events took {elapsed:.1f} s (exit {process.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200_000, help="attendance events to produce")
    parser.add_argument("--backlog", action="store_true", help="stop scoring while producing, then drain")
    parser.add_argument("--rebuild", type=int, default=0, metavar="EVENTS", help="time a rebuild over ≥ EVENTS")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if not args.skip_throughput:
        asyncio.run(throughput(args.n, args.backlog))
    if args.rebuild:
        asyncio.run(rebuild(args.rebuild))


if __name__ == "__main__":
    main()
