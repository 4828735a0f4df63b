"""`learnstreet_rebuild_history_complete{projection}` (shared/rebuild.py CheckpointSchedule): the
running services say whether Kafka still holds every record a rebuild of their projection would
replay, so a retention shorter than the checkpoints need (set by hand, or provisioning reading
another environment than the services) shows before the day a rebuild is needed, not on it."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete

from shared import metrics
from shared.rebuild import CheckpointSchedule, CheckpointTarget
from tests.support import env, eventually, kafka_auth, service_url

pytestmark = pytest.mark.integration


async def _gauge(service: str, projection: str) -> float | None:
    async with httpx.AsyncClient(base_url=service_url(service), timeout=5.0) as http:
        text = (await http.get("/metrics")).text
    found = re.search(rf'^learnstreet_rebuild_history_complete\{{projection="{projection}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


@pytest.mark.parametrize(("service", "projection"), [("scoring", "scoring"), ("enrolment", "passport")])
async def test_the_running_services_say_their_rebuilds_have_the_history_they_need(service, projection):
    assert await eventually(lambda: _gauge(service, projection), timeout_s=90, every_s=1) == 1.0


@pytest.fixture
async def cut_topic():
    """A topic of three records of which the first two were deleted (DeleteRecords), gone afterwards."""
    topic = f"rebuild-history-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_auth("admin"))
    await admin.start()
    producer = AIOKafkaProducer(**kafka_auth("admin"), acks="all")
    await producer.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        for i in range(3):
            await producer.send_and_wait(topic, f"record {i}".encode(), partition=0)
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(2)})
        yield topic
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def _stored(conn: asyncpg.Connection) -> dict[tuple[str, int], int]:
    rows = await conn.fetch("SELECT topic, part, last_offset FROM history_probe")
    return {(r["topic"], r["part"]): r["last_offset"] for r in rows}


async def test_a_replayed_topic_cut_past_the_checkpoint_sets_the_gauge_to_zero_and_says_why(cut_topic, caplog):
    """A projection of the made-up topic, in a scratch schema of scoring's database: without a
    checkpoint it needs offset 0, which is gone; with one that applied up to offset 1 it needs 2,
    which is there; with one that applied only offset 0 it needs 1, which is gone."""
    name = f"probe{uuid.uuid4().hex[:6]}"
    dsn = env()["SCORING_DATABASE_URL"]
    conn = await asyncpg.connect(dsn)
    target = CheckpointTarget(name, ["history_probe"], rebuild_lock=0x7E57_0001, stored_offsets=_stored)
    schedule = CheckpointSchedule(target, dsn, every_s=0, topics=[cut_topic], kafka=kafka_auth("admin"))
    schema = f"{name}_checkpoint"
    try:
        assert await schedule.history_complete() is False
        assert metrics.REBUILD_HISTORY_COMPLETE.labels(name)._value.get() == 0
        assert f"{cut_topic} partition 0 starts at offset 2" in caplog.text

        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.history_probe (topic text, part int, last_offset bigint)")
        await conn.execute(f"INSERT INTO {schema}.history_probe VALUES ($1, 0, 1)", cut_topic)
        assert await schedule.history_complete() is True
        assert metrics.REBUILD_HISTORY_COMPLETE.labels(name)._value.get() == 1

        await conn.execute(f"UPDATE {schema}.history_probe SET last_offset = 0")
        assert await schedule.history_complete() is False
        assert metrics.REBUILD_HISTORY_COMPLETE.labels(name)._value.get() == 0
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
