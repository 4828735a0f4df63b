"""Kafka refusals that tests/integration/test_kafka_security.py does not cover: the kiosk principal
reading any topic, records over the broker's size limit, and records over the decoder's limit."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import MessageSizeTooLargeError, TopicAuthorizationFailedError

from shared.bus.decoding import MAX_RECORD_BYTES
from shared.events import topics as catalogue
from tests.support import headers_of, read_topic

pytestmark = pytest.mark.integration

ALL_TOPICS = [t.name for t in catalogue.all_topic_specs()]
TIMEOUT = 20


@pytest.mark.parametrize("topic", ALL_TOPICS)
async def test_kiosk_cannot_read_any_topic(kafka_consumer, topic):
    consumer = await kafka_consumer("kiosk")
    if topic == "kiosk.checkins":  # it may describe the topic it writes, but a fetch is refused
        consumer.assign([TopicPartition(topic, 0)])
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(consumer.getmany(timeout_ms=2000), TIMEOUT)
        return
    # without Describe the broker does not even say where the topic is: a fetch cannot be addressed
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(consumer._client._wait_on_metadata(topic), TIMEOUT)


@pytest.mark.parametrize("topic", ALL_TOPICS)
async def test_the_admin_can_read_what_the_kiosk_cannot(kafka_consumer, topic):
    # the refusals above come from ACLs, not from a broken consumer or a missing topic
    consumer = await kafka_consumer("admin")
    assert await asyncio.wait_for(consumer._client._wait_on_metadata(topic), TIMEOUT)
    consumer.assign([TopicPartition(topic, 0)])
    await consumer.seek_to_end()
    # a fetch succeeds (new records may arrive meanwhile); an unauthorized one would raise
    assert isinstance(await asyncio.wait_for(consumer.getmany(timeout_ms=500), TIMEOUT), dict)


async def test_a_record_over_the_brokers_max_message_size_is_refused_to_the_producer(kafka_producer):
    # the client would refuse locally at its own max_request_size; raise it so the broker decides
    producer = await kafka_producer("kiosk", max_request_size=4 * 1024 * 1024, acks="all", enable_idempotence=True)
    with pytest.raises(MessageSizeTooLargeError):
        await asyncio.wait_for(producer.send_and_wait("kiosk.checkins", b"x" * (2 * 1024 * 1024)), TIMEOUT)
    meta = await asyncio.wait_for(producer.send_and_wait("kiosk.checkins", b'{"acl_probe": true}'), TIMEOUT)
    assert meta.offset >= 0  # the same producer can still send a normal record


async def test_a_record_over_the_decoders_limit_is_dead_lettered_as_too_large(kafka_producer):
    marker = uuid.uuid4().hex
    body = {
        "checkin_id": str(uuid.uuid4()), "kiosk_id": "k-sec", "venue_id": "v-sec", "resident_id": f"r-{marker}",
        "scanned_at": "2026-05-01T09:00:00+08:00", "pad": "x" * (MAX_RECORD_BYTES + 1),
    }  # fmt: skip
    producer = await kafka_producer("kiosk", acks="all", enable_idempotence=True)
    meta = await producer.send_and_wait(
        "kiosk.checkins",
        orjson.dumps(body),
        key=body["resident_id"].encode(),
        headers=[("test_marker", marker.encode())],
    )

    def found(records):
        return any(headers_of(r).get("test_marker") == marker for r in records)

    records = await read_topic("kiosk.checkins.dlq", until=found, timeout_s=60)
    letter = next(r for r in records if headers_of(r).get("test_marker") == marker)
    h = headers_of(letter)
    assert h["dlq_reason"] == "too_large", h
    assert h["dlq_original_offset"] == str(meta.offset) and h["dlq_original_partition"] == str(meta.partition)
    assert str(MAX_RECORD_BYTES) in h["dlq_error_message"]
