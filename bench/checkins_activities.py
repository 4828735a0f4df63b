"""Benchmark: kiosk check-ins through the activities service (kiosk.checkins → attendance).

Sets up venues with kiosks, one course with S sessions open now and R residents (R × S = N), then
produces N valid check-ins to kiosk.checkins with the kiosk principal (as kiosks do) and times
until activities has recorded all N attendances in its database; also reports when the outbox
relay has published them to activities.attendance.

    .venv/bin/python -m bench.checkins_activities [-n 100000] [--sessions 50]

Needs the local stack and the activities service running (make up). It adds data with unique ids
and deletes nothing.

Also prints the CPU time the activities process and its PostgreSQL backends spent per check-in
(from /proc): on a machine shared with other work the rate follows the load average, the CPU per
check-in much less, so compare that between versions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.local.kiosk_principals import signing_key
from shared.events import topics
from shared.events.catalogue import KioskCheckin, ResidentRegistered
from shared.events.envelope import envelop
from shared.kiosk_signing import public_bytes, sign
from tests.support import client, env, kafka_auth, service_pid

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_seconds() -> tuple[float, float]:
    """(activities process, PostgreSQL backends connected to the activities database), user + system."""
    pid = service_pid("activities")
    service = _cpu_s(pid) if pid else 0.0
    backends = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().startswith(b"postgres: learnstreet_activities"):
                    backends += _cpu_s(int(entry))
        except OSError:  # the process ended meanwhile
            continue
    return service, backends


async def setup(
    run: str, n_sessions: int, n_residents: int, venues: int, signed: bool = True
) -> tuple[list[tuple[str, str, str]], list[str]]:
    # Every scan dated before it is sent (activities rejects scans more than 5 minutes ahead of
    # their arrival): the latest slot ends its hour of scans 10 minutes ago, earlier ones go back.
    start = datetime.now(UTC) - timedelta(minutes=70)
    sessions = []
    async with client("activities") as op:
        r = await op.post(
            "/v1/courses", json={"course_id": f"{run}-c", "title_zh": "压测", "title_en": "Bench", "theme": "reading"}
        )
        r.raise_for_status()
        for v in range(venues):
            r = await op.post(
                "/v1/venues",
                json={"venue_id": f"{run}-v{v}", "community_id": "pinghu", "name_zh": f"馆{v}", "name_en": f"Hall {v}",
                      "venue_type": "library", "capacity": 100_000, "kiosk_ids": [f"{run}-k{v}"]},
            )  # fmt: skip
            r.raise_for_status()
            if signed:  # contract v2: the kiosk's key, so the bench measures verification too
                public = base64.b64encode(public_bytes(signing_key(f"{run}-k{v}"))).decode()
                r = await op.post(f"/v1/kiosks/{run}-k{v}/keys", json={"public_key": public})
                r.raise_for_status()
        for s in range(n_sessions):
            v = s % venues
            # Sessions at one venue are spread over the day, so each scan has exactly one session in its window.
            slot = start - timedelta(hours=3 * (s // venues))
            r = await op.post(
                f"/v1/courses/{run}-c/sessions",
                json={"session_id": f"{run}-s{s}", "venue_id": f"{run}-v{v}", "starts_at": slot.isoformat(),
                      "ends_at": (slot + timedelta(hours=2)).isoformat(), "capacity": max(n_residents, 1)},
            )  # fmt: skip
            r.raise_for_status()
            sessions.append((f"{run}-s{s}", f"{run}-v{v}", f"{run}-k{v}", slot))
    residents = [f"{run}-r{i}" for i in range(n_residents)]
    producer = AIOKafkaProducer(**kafka_auth("enrolment"), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for rid in residents:
            e = envelop(
                ResidentRegistered(resident_id=rid, community_id="pinghu", audience_group="adult"), source="bench"
            )
            futures.append(
                await producer.send(
                    e.topic, e.body(), key=e.key, headers=[(k, v.encode()) for k, v in e.headers().items()]
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sessions, residents


async def wait_residents(db: asyncpg.Connection, run: str, n: int) -> None:
    for _ in range(3000):  # bounded: 10 minutes
        if await db.fetchval("SELECT count(*) FROM residents WHERE resident_id LIKE $1", f"{run}-r%") >= n:
            return
        await asyncio.sleep(0.2)
    raise SystemExit("activities did not learn the residents within 10 minutes")


async def attendance_end(principal: str = "admin") -> int:
    consumer = AIOKafkaConsumer(**kafka_auth(principal), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.ATTENDANCE.name, p) for p in range(topics.ATTENDANCE.partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def main(n: int, n_sessions: int, venues: int, signed: bool = True) -> None:
    run = f"bench{uuid.uuid4().hex[:8]}"
    n_residents = -(-n // n_sessions)
    db = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:
        print(f"run {run}: {n} check-ins = {n_residents} residents × {n_sessions} sessions at {venues} venues")
        sessions, residents = await setup(run, n_sessions, n_residents, venues, signed)
        await wait_residents(db, run, n_residents)
        session_ids = [s[0] for s in sessions]
        bodies = []
        for i in range(n):
            _, venue_id, kiosk_id, slot = sessions[i % n_sessions]
            rid = residents[i // n_sessions]
            at = (slot + timedelta(minutes=i % 60)).isoformat()
            scan = {"checkin_id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue_id": venue_id, "resident_id": rid,
                    "scanned_at": at}  # fmt: skip
            headers = sign(signing_key(kiosk_id), KioskCheckin.model_validate(scan)) if signed else {}
            bodies.append((rid.encode(), orjson.dumps(scan), [(k, v.encode()) for k, v in headers.items()]))
        attendance_before = await attendance_end()
        cpu_before = cpu_seconds()
        producer = AIOKafkaProducer(
            **kafka_auth("kiosk"), acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20
        )
        await producer.start()
        t0 = time.perf_counter()
        try:
            futures = [
                await producer.send(topics.KIOSK_CHECKINS.name, value, key=key, headers=headers)
                for key, value, headers in bodies
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        produced = time.perf_counter() - t0
        print(f"produced {n} in {produced:.2f} s ({n / produced:,.0f}/s)")
        recorded = 0
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            recorded = await db.fetchval(
                "SELECT count(*) FROM attendance WHERE walk_in AND session_id = ANY($1::text[])", session_ids
            )
            if recorded >= n:
                break
            await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - t0
        cpu_after = cpu_seconds()
        print(
            f"activities recorded {recorded}/{n} attendances in {elapsed:.2f} s: {recorded / elapsed:,.0f} check-ins/s"
        )
        service_cpu, backends_cpu = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
        print(
            f"CPU per check-in: activities {service_cpu * 1e6 / n:.0f} µs, its PostgreSQL backends "
            f"{backends_cpu * 1e6 / n:.0f} µs; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        while time.perf_counter() < deadline:
            if await attendance_end() - attendance_before >= n:
                break
            await asyncio.sleep(0.5)
        published = time.perf_counter() - t0
        print(f"outbox relay published them to activities.attendance after {published:.2f} s ({n / published:,.0f}/s)")
    finally:
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="check-ins to produce (default 100000)")
    parser.add_argument("--sessions", type=int, default=50, help="sessions (default 50)")
    parser.add_argument("--venues", type=int, default=10, help="venues, one kiosk each (default 10)")
    parser.add_argument("--unsigned", action="store_true", help="version-1 kiosks: no key, unsigned check-ins")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.sessions, args.venues, not args.unsigned))
