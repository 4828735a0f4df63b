"""Pipeline throughput (kiosk.checkins → activities → activities.attendance → scoring's index) and the
scoring step alone, each from a standing start: the service(s) stopped, the input produced, then
started, timed until scoring has committed every attendance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka.structs import TopicPartition

from bench import env
from bench.street import Street, attendance, checkin
from shared.events import topics


@dataclass
class Run:
    count: int  # events the services had to apply
    seconds: float  # from the services' start to the last commit
    steady_seconds: float  # from the first committed effect to the last
    start: dict[TopicPartition, int]  # the input's range, for the ceilings and the peer
    end: dict[TopicPartition, int]

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    @property
    def steady_per_s(self) -> float:
        return self.count / self.steady_seconds if self.steady_seconds > 0 else float("nan")


async def produce(principal: str, topic: str, records: Iterable[tuple[bytes, bytes, list]]) -> int:
    """Send (key, value, headers) records as fast as the producer takes them; wait for every ack."""
    producer = await env.producer(principal)
    sent = 0
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def checkin_records(street: Street, stage: str, limit: int) -> Iterable[tuple[bytes, bytes, list]]:
    at = datetime.now(UTC)
    for i, (resident, session) in enumerate(street.pairs(stage)):
        if i >= limit:
            return
        yield resident[0].encode(), checkin(street, resident, session, at), []


def attendance_records(street: Street, stage: str, limit: int) -> Iterable[tuple[bytes, bytes, list]]:
    at = datetime.now(UTC)
    for i, (resident, session) in enumerate(street.pairs(stage)):
        if i >= limit:
            return
        envelope = attendance(street, resident, session, at)
        yield envelope.key, envelope.body(), [(k, v.encode()) for k, v in envelope.headers().items()]


async def scored(session_ids: list[str], conn: asyncpg.Connection | None = None) -> int:
    """Attendance rows scoring has committed for these sessions."""
    own = conn is None
    conn = conn or await env.database("scoring")
    try:
        return await conn.fetchval("SELECT count(*) FROM attendance WHERE session_id = ANY($1::text[])", session_ids)
    finally:
        if own:
            await conn.close()


async def first_recorded(session_ids: list[str]) -> float:
    """Wall-clock time activities began its first transaction that recorded one of these attendances
    (recorded_at defaults to now(), the transaction's start)."""
    conn = await env.database("activities")
    try:
        at = await conn.fetchval(
            "SELECT min(recorded_at) FROM attendance WHERE session_id = ANY($1::text[])", session_ids
        )
    finally:
        await conn.close()
    return at.timestamp()


async def time_until_scored(
    session_ids: list[str], want: int, started: float, timeout_s: float
) -> tuple[float, float, float]:
    """Poll scoring's database until `want` attendances of these sessions are committed; (seconds since
    `started`, seconds since the first progress seen, wall-clock time of the completing poll)."""
    first_progress: float | None = None
    deadline = started + timeout_s
    done = 0
    conn = await env.database("scoring")
    try:
        while time.monotonic() < deadline:
            try:
                done = await scored(session_ids, conn)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                # Fault-injection tests of other engineers terminate backends now and then: reconnect.
                conn = await env.database("scoring")
                continue
            now = time.monotonic()
            if done and first_progress is None:
                first_progress = now
            if done >= want:
                return now - started, now - (first_progress or started), time.time()
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise TimeoutError(f"{done} of {want} committed within {timeout_s:.0f} s")


async def pipeline(
    street: Street, n: int, *, stage: str = "pipeline", instances: int = 1, timeout_s: float = 900
) -> Run:
    """`n` check-ins produced while activities and scoring are stopped, then both started with
    `instances` instances each (their groups share the partitions); time until scored. Instances
    beyond the first are stopped again at the end: the other stages run one each."""
    session_ids = street.session_ids(stage)
    before = await scored(session_ids)
    env.stop_service("activities")  # every instance
    env.stop_service("scoring")
    try:
        start = await env.end_offsets(topics.KIOSK_CHECKINS.name)
        produced = await produce("kiosk", topics.KIOSK_CHECKINS.name, checkin_records(street, stage, n))
        end = await env.end_offsets(topics.KIOSK_CHECKINS.name)
    finally:
        started = time.monotonic()
        for index in range(1, instances + 1):
            env.start_service("activities", index=index)
            env.start_service("scoring", index=index)
    try:
        seconds, _, done_at = await time_until_scored(session_ids, before + produced, started, timeout_s)
        # Throughput from the first check-in activities applied: the services' start-up (consumer
        # group joins) is a fixed cost, reported apart.
        steady = done_at - await first_recorded(session_ids)
        await env.wait_ready("activities")
        await env.wait_ready("scoring")
    finally:
        for index in range(2, instances + 1):
            env.stop_instance("activities", index)
            env.stop_instance("scoring", index)
    return Run(produced, seconds, steady, start, end)


async def scoring_step(street: Street, n: int, *, timeout_s: float = 900) -> Run:
    session_ids = street.session_ids("scoring")
    before = await scored(session_ids)
    env.stop_service("scoring")
    try:
        start = await env.end_offsets(topics.ATTENDANCE.name)
        produced = await produce("activities", topics.ATTENDANCE.name, attendance_records(street, "scoring", n))
        end = await env.end_offsets(topics.ATTENDANCE.name)
    finally:
        started = time.monotonic()
        env.start_service("scoring")
    seconds, steady, _ = await time_until_scored(session_ids, before + produced, started, timeout_s)
    await env.wait_ready("scoring")
    return Run(produced, seconds, steady, start, end)
