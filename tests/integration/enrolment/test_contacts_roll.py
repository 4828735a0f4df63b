"""An erased contact leaves a quiet partition of enrolment.contacts (ADR 10): Kafka compacts only
rolled segments and rolls a compacted topic's active segment on the first append after
`max.compaction.lag.ms`, so on a partition nobody writes to, a tombstoned phone stayed readable for
ever. Enrolment appends a roll tombstone to every partition every half lag
(services/enrolment/adapters/contacts_roll.py).

The mechanism is shown on a made-up compacted topic with a two-second lag (the real one has a day):
the contact stays below its tombstone while nothing is appended, and is gone once the roll
tombstones are. The service part: enrolment's own roll reaches every partition of
enrolment.contacts through its outbox, and notify takes it without a dead letter."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.enrolment.adapters.contacts_roll import ContactsRoll, roll_keys
from shared import privacy_topics
from shared.db.pool import create_pool
from shared.events import topics
from tests.integration.activities.helpers import Tail
from tests.support import env, eventually, kafka_auth

pytestmark = pytest.mark.integration

PARTITIONS = 3
LAG_MS = 2000
PHONE = "+8613900000000"


async def _records_holding_the_phone(topic: str) -> int:
    """What the officer's full read (`learnstreet privacy find-in-topics`) finds of the phone."""
    needles = privacy_topics.needles_of("r-roll-resident", PHONE)
    (found,) = await privacy_topics.read_topics(kafka_auth("admin"), [topic], needles, stall_s=20)
    return found.holding("phone")


@pytest.fixture
async def quiet_compacted_topic():
    topic = f"contacts-roll-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_auth("admin"))
    await admin.start()
    config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": str(LAG_MS),
              "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "86400000"}  # fmt: skip
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1, topic_configs=config)])
        yield topic
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_a_tombstoned_contact_stays_on_a_quiet_partition_until_the_roll_tombstones_come(quiet_compacted_topic):
    topic, key = quiet_compacted_topic, b"r-roll-" + uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(**kafka_auth("admin"), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, f'{{"phone":"{PHONE}"}}'.encode(), key=key)
        await producer.send_and_wait(topic, None, key=key)  # the erasure's tombstone
        # past the lag and two rounds of the log cleaner (it looks every 15 s), but nothing appended:
        # the active segment never rolled, the contact is readable
        await asyncio.sleep(32)
        assert await _records_holding_the_phone(topic) == 1

        for partition, roll_key in roll_keys(PARTITIONS).items():
            await producer.send_and_wait(topic, None, key=roll_key, partition=partition)
    finally:
        await producer.stop()

    async def compacted():
        return await _records_holding_the_phone(topic) == 0 or None

    await eventually(compacted, timeout_s=90, every_s=2)  # the log cleaner looks every 15 s


async def test_enrolment_s_roll_reaches_every_partition_of_the_contacts_topic_and_notify_takes_it():
    pool = await create_pool(env()["ENROLMENT_DATABASE_URL"], min_size=1, max_size=1)
    roll = ContactsRoll(lambda: pool, topic=topics.CONTACTS.name, partitions=topics.CONTACTS.partitions,
                        source="learnstreet/enrolment", every_s=0)  # fmt: skip
    try:
        async with Tail(topics.CONTACTS.name) as contacts, Tail(topics.CONTACTS.dlq) as dead:
            assert await roll.once() == topics.CONTACTS.partitions
            # the running service's relay publishes the outbox rows (it polls when not woken)
            rolled = await contacts.wait_for(lambda r: r.key.startswith(b"learnstreet:roll:"),
                                             count=topics.CONTACTS.partitions, timeout_s=60)  # fmt: skip
            assert sorted(r.partition for r in rolled) == list(range(topics.CONTACTS.partitions))
            assert all(r.value is None for r in rolled)
            with pytest.raises(AssertionError):  # notify consumes them: no dead letter of theirs comes
                await dead.wait_for(lambda r: bool(r.key) and r.key.startswith(b"learnstreet:roll:"), timeout_s=10)
    finally:
        await pool.close()
