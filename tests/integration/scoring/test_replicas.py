"""Two scoring instances at once on the real PostgreSQL (issue 12): during a rebalance both may hold
the same partition's batch, and both run the index engine.

Each test runs two in-process instances (their own pools, so their own backends and transactions)
on a private copy of scoring's tables (`private_schema`), so the live service's rows and outbox are
never touched and the interleaving is forced, not hoped for."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import asyncpg
import pytest

from services.scoring.adapters import repository
from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.adapters.offsets import StoredOffsets
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.entrypoints.consumers import HANDLERS, LABEL
from services.scoring.service_layer.attendance import AttendanceProjector
from services.scoring.service_layer.handlers import apply_attendance
from services.scoring.service_layer.index import IndexEngine
from shared.bus.decoding import Incoming
from shared.bus.dispatch import Dispatcher
from shared.db.uow import UnitOfWorkFactory
from shared.events.catalogue import IndexUpdated
from shared.reference import load_reference
from tests.integration.scoring.events import attendance
from tests.integration.scoring.private_schema import private_schema
from tests.support import eventually, unique

pytestmark = pytest.mark.integration

TOPIC = "activities.attendance"


def _incoming(envelope, partition: int, offset: int) -> Incoming:
    record = SimpleNamespace(topic=TOPIC, partition=partition, offset=offset)
    return Incoming(envelope.id, envelope.type, envelope.data, record, time=envelope.time)


class Rendezvous(AttendanceProjector):
    """The attendance projector of one instance, held back until the other instance has either
    reached its own projection (both read the same stored offsets: the race) or is blocked on a
    lock in PostgreSQL (the fix serialises them): whichever the code under test allows."""

    def __init__(self, name: str, arrived: set[str], observer: asyncpg.Connection, other_pid: int) -> None:
        super().__init__()  # the projector's period rules (the default without an indicator file)
        self.name, self.arrived, self.observer, self.other_pid = name, arrived, observer, other_pid
        self.other = "b" if name == "a" else "a"
        self.projected = 0

    async def project(self, uow, events) -> None:
        self.arrived.add(self.name)
        deadline = time.monotonic() + 30
        while self.other not in self.arrived and not await self._other_waits_on_lock():
            assert time.monotonic() < deadline, "the other instance neither projected nor waited on a lock"
            await asyncio.sleep(0.01)
        self.projected += len(events)
        await super().project(uow, events)

    async def _other_waits_on_lock(self) -> bool:
        return await self.observer.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", self.other_pid
        )  # fmt: skip


async def test_two_instances_apply_one_partitions_batch_once():
    run = unique("replica")
    course_id = f"{run}-c"
    batch = [
        _incoming(attendance(f"{run}-r{i}", community="shanxia", minutes=30 + i, course_id=course_id), i % 2, i)
        for i in range(40)
    ]  # two partitions of one topic, as one poll returns them
    async with private_schema() as schema:
        pool_a, pool_b = await schema.pool(), await schema.pool()
        observer = await schema.connect()
        try:
            async with pool_a.acquire() as a, pool_b.acquire() as b:
                pid_a, pid_b = a.get_server_pid(), b.get_server_pid()
            arrived: set[str] = set()
            projectors = [Rendezvous("a", arrived, observer, pid_b), Rendezvous("b", arrived, observer, pid_a)]
            instances = [
                Dispatcher(UnitOfWorkFactory(pool), HANDLERS, projector=p, offsets=StoredOffsets(), label=LABEL)
                for pool, p in zip((pool_a, pool_b), projectors, strict=True)
            ]
            # The same records reach both instances: the old owner's batch in flight, the new
            # owner's first poll after the rebalance.
            await asyncio.gather(*(instance(batch) for instance in instances))

            totals = await observer.fetchrow(
                "SELECT sum(attendances) AS n, sum(minutes) AS m FROM attendance_daily WHERE course_id = $1", course_id
            )
            assert (totals["n"], totals["m"]) == (40, sum(30 + i for i in range(40)))
            assert sum(p.projected for p in projectors) == 40
            minutes = await observer.fetchval(
                "SELECT sum(minutes) FROM resident_minutes WHERE resident_id LIKE $1 || '-r%'", run
            )
            assert minutes == sum(30 + i for i in range(40))
            offsets = await observer.fetch('SELECT partition, "offset" FROM consumer_offsets ORDER BY partition')
            assert [(r["partition"], r["offset"]) for r in offsets] == [(0, 38), (1, 39)]
        finally:
            await observer.close()


def _engine(**kw) -> IndexEngine:
    return IndexEngine(
        load_indicator_file(DEFAULT_INDICATORS), load_reference("reference/pinghu"),
        idle_refresh_s=600, min_publish_interval_s=0, **kw,
    )  # fmt: skip


async def _published(conn: asyncpg.Connection) -> list[tuple[str, float]]:
    rows = await conn.fetch("SELECT payload FROM outbox WHERE topic = $1", IndexUpdated.topic)
    out = []
    for r in rows:
        data = IndexUpdated.model_validate_json(bytes(r["payload"]))
        out.append((data.community_id, data.total))
    return sorted(out)


async def _attend(pool: asyncpg.Pool, run: str, community: str, audience: str) -> None:
    """Attendance of a new audience group: the community's and the street's index change."""
    async with UnitOfWorkFactory(pool)() as uow:
        events = [_incoming(attendance(f"{run}-{audience}", community=community, audience=audience), 0, 0)]
        await apply_attendance(uow, events)
        await uow.commit()


async def test_two_index_engines_publish_each_change_once():
    run = unique("leader")
    async with private_schema() as schema:
        pools = [await schema.pool(size=2), await schema.pool(size=2), await schema.pool(size=2)]
        engines = [_engine(), _engine(), _engine()]
        conn = await schema.connect()
        try:
            for engine, pool in zip(engines, pools, strict=True):
                await engine.start(pool, UnitOfWorkFactory(pool))
            first = await _published(conn)
            assert len(first) == len(engines[0].snapshot)  # every community and the street, once

            await _attend(pools[0], run, "shanxia", "adult")
            await asyncio.gather(*(e.refresh() for e in engines))
            changed = [x for x in await _published(conn) if x not in first]
            assert sorted({c for c, _ in changed}) == ["shanxia", "street"]
            assert len(changed) == 2, changed  # one index.updated per changed index, not one per instance

            # The leader stops (a rolling update): another instance takes over and publishes the next
            # change once, without republishing what the old leader already did.
            leader = next(e for e in engines if e.leading)
            await leader.stop()
            survivors = [e for e in engines if e is not leader]
            assert sum([await e.try_lead() for e in survivors]) == 1
            before = await _published(conn)
            await _attend(pools[1], run, "shanxia", "elderly")
            await asyncio.gather(*(e.refresh() for e in survivors))
            changed = [x for x in await _published(conn) if x not in before]
            assert sorted(c for c, _ in changed) == ["shanxia", "street"], changed
        finally:
            for engine in engines:
                await engine.stop()
            await conn.close()


async def test_a_leader_that_lost_its_lock_unnoticed_does_not_publish_twice():
    run = unique("zombie")
    async with private_schema() as schema:
        pools = [await schema.pool(size=2), await schema.pool(size=2)]
        old, new = _engine(), _engine()
        conn = await schema.connect()
        try:
            await old.start(pools[0], UnitOfWorkFactory(pools[0]))
            await new.start(pools[1], UnitOfWorkFactory(pools[1]))
            assert old.leading and not new.leading
            # The old leader's lock connection is cut (a network blip, a DBA's pg_terminate_backend).
            pid = await conn.fetchval(
                """SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                   WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted AND a.application_name = $2""",
                repository.INDEX_LEADER_LOCK, f"test-{schema.name}",
            )  # fmt: skip
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            assert await eventually(new.try_lead, timeout_s=10)  # the lock went with the connection
            assert old.leading  # not noticed before its next tick: two instances believe they lead

            before = await _published(conn)
            await _attend(pools[1], run, "shanxia", "special")
            await asyncio.gather(old.refresh(), new.refresh())
            changed = [x for x in await _published(conn) if x not in before]
            assert sorted(c for c, _ in changed) == ["shanxia", "street"], changed
            assert not await old.try_lead() and not old.leading  # it notices, and follows
        finally:
            await old.stop()
            await new.stop()
            await conn.close()
