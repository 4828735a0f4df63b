"""The transactional outbox against the real database and broker."""

from __future__ import annotations

import asyncio

import pytest

from services.activities.bootstrap import MIGRATIONS
from shared.bus.relay import OutboxRelay
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.db.uow import UnitOfWorkFactory
from shared.events.catalogue import CourseCreated
from shared.events.envelope import envelop
from tests.support import env, eventually, headers_of, read_topic, unique

pytestmark = pytest.mark.integration


async def test_rolled_back_outbox_row_is_never_published_and_committed_one_is():
    pool = await create_pool(env()["ACTIVITIES_DATABASE_URL"])
    try:
        async with pool.acquire() as conn:
            assert await migrate(conn, MIGRATIONS) == []  # the service applied them; a second run is a no-op
        uow = UnitOfWorkFactory(pool, asyncio.Event())
        rolled_back = envelop(CourseCreated(course_id=unique("rb"), title_zh="x", title_en="x", theme="x"), source="t")
        committed = envelop(CourseCreated(course_id=unique("ok"), title_zh="y", title_en="y", theme="y"), source="t")

        async with uow() as unit:
            unit.publish(rolled_back)
            await unit.conn.execute("SELECT 1")
            # leaving the block without commit() rolls back
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", rolled_back.id) == 0

        with pytest.raises(RuntimeError):
            async with uow() as unit:
                unit.publish(rolled_back)
                raise RuntimeError("business rule failed after the event was queued")
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", rolled_back.id) == 0

        async with uow() as unit:
            unit.publish(committed)
            await unit.commit()
        # The running activities service's relay (or ours, if it is quicker) publishes it.
        records = await read_topic(
            "activities.catalogue",
            until=lambda rs: any(headers_of(r).get("ce_id") == str(committed.id) for r in rs),
        )
        ids = {headers_of(r).get("ce_id") for r in records}
        assert str(rolled_back.id) not in ids

        # The relay deletes the row in the transaction that published it, committed after the ack.
        async def row_gone() -> bool:
            return await pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", committed.id) == 0

        assert await eventually(row_gone, timeout_s=10)
    finally:
        await pool.close()


async def test_two_relays_publish_each_row_once():
    from faststream.kafka import KafkaBroker
    from faststream.security import SASLScram512

    e = env()
    pool = await create_pool(e["ACTIVITIES_DATABASE_URL"])
    brokers = [
        KafkaBroker(
            e["KAFKA_BOOTSTRAP"],
            security=SASLScram512(username=e["ACTIVITIES_KAFKA_USERNAME"], password=e["ACTIVITIES_KAFKA_PASSWORD"]),
            enable_idempotence=True,
            allow_auto_create_topics=False,
        )
        for _ in range(2)
    ]
    try:
        for b in brokers:
            await b.start()
        uow = UnitOfWorkFactory(pool, asyncio.Event())
        events = [
            envelop(CourseCreated(course_id=unique("twin"), title_zh="z", title_en="z", theme="z"), source="t")
            for _ in range(200)
        ]
        async with uow() as unit:
            unit.publish(*events)
            await unit.commit()
        relays = [OutboxRelay(pool, b, asyncio.Event(), batch_size=50) for b in brokers]
        await asyncio.gather(*(r.publish_pending() for r in relays for _ in range(6)))
        wanted = {str(ev.id) for ev in events}
        records = await read_topic(
            "activities.catalogue", until=lambda rs: wanted <= {headers_of(r).get("ce_id") for r in rs}
        )
        published = [headers_of(r).get("ce_id") for r in records if headers_of(r).get("ce_id") in wanted]
        assert len(published) == len(wanted)  # each exactly once, although two relays raced
    finally:
        for b in brokers:
            await b.stop()
        await pool.close()
