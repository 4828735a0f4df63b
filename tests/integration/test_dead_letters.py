"""Bad input never stalls a partition and never vanishes: it lands in `<topic>.dlq` with the
reason, and the consumer carries on with the next record."""

from __future__ import annotations

import os
import uuid

import pytest

from shared.bus import dead_letters as dlq
from shared.events.catalogue import CourseCreated
from shared.events.envelope import envelop
from tests.support import client, eventually, headers_of, producer, read_topic, unique

pytestmark = pytest.mark.integration


async def _stored(service: str, course_id: str) -> bool:
    async with client(service) as http:
        return (await http.get(f"/v1/courses/{course_id}")).status_code == 200


async def test_invalid_records_are_dead_lettered_with_reason_and_the_next_one_is_applied():
    key = unique("k").encode()
    bad_id = str(uuid.uuid4())
    invalid_event_id = str(uuid.uuid4())
    twice_id = str(uuid.uuid4())
    good = envelop(
        CourseCreated(course_id=unique("after-bad"), title_zh="茶艺", title_en="Tea", theme="culture"), source="t"
    )
    kafka = await producer("activities")
    try:
        # Not JSON at all, with a known type.
        await kafka.send_and_wait(
            "activities.catalogue", b"\x00not json{", key=key,
            headers=[("ce_type", CourseCreated.type_name.encode()), ("ce_id", bad_id.encode())],
        )  # fmt: skip
        # JSON, but a required field missing.
        await kafka.send_and_wait(
            "activities.catalogue", b'{"course_id": "x"}', key=key,
            headers=[("ce_type", CourseCreated.type_name.encode()), ("ce_id", invalid_event_id.encode())],
        )  # fmt: skip
        # A valid event whose ce_id is given twice, with different values.
        twice = envelop(
            CourseCreated(course_id=unique("twice"), title_zh="茶", title_en="Tea", theme="culture"), source="t"
        )
        headers = [(k, (str(uuid.uuid4()) if k == "ce_id" else v).encode()) for k, v in twice.headers().items()]
        await kafka.send_and_wait(twice.topic, twice.body(), key=key, headers=[*headers, ("ce_id", twice_id.encode())])
        await kafka.send_and_wait(
            good.topic, good.body(), key=key, headers=[(k, v.encode()) for k, v in good.headers().items()]
        )
    finally:
        await kafka.stop()

    for service in ("enrolment", "scoring", "notify"):
        assert await eventually(lambda s=service: _stored(s, good.data.course_id))

    def both_from_every_consumer(records) -> bool:
        seen = {(headers_of(r).get("ce_id"), headers_of(r).get(dlq.SERVICE)) for r in records}
        return all(
            (i, s) in seen for i in (bad_id, invalid_event_id, twice_id) for s in ("enrolment", "scoring", "notify")
        )

    records = await read_topic("activities.catalogue.dlq", until=both_from_every_consumer)
    by_id = {}
    for record in records:
        h = headers_of(record)
        by_id.setdefault(h.get("ce_id"), []).append(h)
    assert {h[dlq.REASON] for h in by_id[bad_id]} == {"invalid_json"}
    assert {h[dlq.REASON] for h in by_id[invalid_event_id]} == {"invalid_event"}
    assert {h[dlq.REASON] for h in by_id[twice_id]} == {"invalid_header"}
    sample = by_id[invalid_event_id][0]
    assert sample[dlq.ORIGINAL_TOPIC] == "activities.catalogue"
    assert "title_zh" in sample[dlq.ERROR_MESSAGE]
    assert int(sample[dlq.ORIGINAL_OFFSET]) >= 0
    assert int(sample[dlq.ATTEMPTS]) >= 1


class _Principal:
    """The dead-letter publisher's producer contract (shared/bus/producer.py: publish) for any
    principal, so that the real broker's ACLs decide."""

    def __init__(self, kafka) -> None:
        self.kafka = kafka

    async def publish(self, body, topic, *, key=None, headers=None, no_confirm=False):
        future = await self.kafka.send(topic, body, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
        return future if no_confirm else await future


async def test_a_dead_letter_kafka_refuses_is_quarantined_then_replayed_by_the_operator_cli():
    """enrolment may not write kiosk.checkins.dlq: the broker refuses the dead letter (ACL), the
    publisher quarantines it in activities' database instead of raising (which redelivered the batch
    forever before), and `learnstreet dlq quarantine replay` publishes it as admin."""
    import random
    import subprocess

    import asyncpg
    from aiokafka.structs import ConsumerRecord

    from shared import metrics
    from shared.bus.decoding import DeadLetter
    from tests.integration.activities.helpers import Tail
    from tests.support import ROOT, env

    offset = random.randrange(10**15, 2 * 10**15)  # no real record: its own quarantine row
    body = b'{"checkin_id": "not a uuid"}'
    record = ConsumerRecord(
        topic="kiosk.checkins", partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"r1", value=body,
        checksum=None, serialized_key_size=2, serialized_value_size=len(body), headers=[("trace", b"t")],
    )  # fmt: skip
    counter = metrics.DEAD_LETTERS_QUARANTINED.labels("kiosk.checkins", "invalid_checkin")
    before = counter._value.get()
    pool = await asyncpg.create_pool(env()["ACTIVITIES_DATABASE_URL"], min_size=1, max_size=1)
    kafka = await producer("enrolment")
    try:
        publisher = dlq.DeadLetterPublisher(_Principal(kafka), "activities", pool=lambda: pool)
        await publisher.publish([(record, DeadLetter("invalid_checkin", "checkin_id: not a UUID"), 1)])
        row = await pool.fetchrow(
            'SELECT id, reason, value, publish_error FROM dead_letter_quarantine WHERE "offset" = $1', offset
        )
        assert (row["reason"], row["value"]) == ("invalid_checkin", body)
        assert "TopicAuthorizationFailed" in row["publish_error"]
        assert counter._value.get() - before == 1

        cli = [str(ROOT / ".venv" / "bin" / "learnstreet"), "dlq", "quarantine"]
        wide = {**os.environ, "COLUMNS": "300"}
        listed = subprocess.run([*cli, "list", "activities"], capture_output=True, text=True, timeout=60, env=wide)
        assert listed.returncode == 0 and f"kiosk.checkins[0]@{offset}" in listed.stdout, listed
        async with Tail("kiosk.checkins.dlq") as tail:
            replayed = subprocess.run(
                [*cli, "replay", "activities", "--id", str(row["id"])], capture_output=True, text=True, timeout=60
            )
            assert replayed.returncode == 0, replayed.stderr
            (letter,) = await tail.wait_for(lambda r: headers_of(r).get(dlq.ORIGINAL_OFFSET) == str(offset))
        h = headers_of(letter)
        assert (letter.value, h[dlq.REASON], h[dlq.SERVICE], h["trace"]) == (body, "invalid_checkin", "activities", "t")
        assert await pool.fetchval('SELECT count(*) FROM dead_letter_quarantine WHERE "offset" = $1', offset) == 0
    finally:
        await pool.execute('DELETE FROM dead_letter_quarantine WHERE "offset" = $1', offset)
        await kafka.stop()
        await pool.close()


async def _cli_replay(*args: str):
    import asyncio
    import subprocess

    from tests.support import ROOT

    cli = [str(ROOT / ".venv" / "bin" / "learnstreet"), "dlq", "replay", "kiosk.checkins", *args]
    wide = {**os.environ, "COLUMNS": "300"}
    return await asyncio.to_thread(subprocess.run, cli, capture_output=True, text=True, timeout=120, env=wide)


async def test_replaying_a_cut_dead_letter_sends_its_original_record_from_the_source_topic():
    """A body over the decoders' 256 KiB limit is dead-lettered with its first 256 KiB only
    (dlq_body_truncated); replaying that would send a record that is not the one the kiosk wrote.
    `learnstreet dlq replay` reads the original at dlq_original_offset instead."""
    import hashlib

    from tests.integration.activities.helpers import Tail

    key = unique("big").encode()
    original = b'{"pad": "' + b"x" * (300 * 1024) + b'"}'
    kafka = await producer("kiosk", max_request_size=2 * 1024 * 1024)
    try:
        async with Tail("kiosk.checkins.dlq") as dlq_tail:
            sent = await kafka.send_and_wait("kiosk.checkins", original, key=key, headers=[("trace", b"t1")])
            (letter,) = await dlq_tail.wait_for(lambda r: r.key == key)
    finally:
        await kafka.stop()
    h = headers_of(letter)
    assert (h[dlq.REASON], h[dlq.BODY_TRUNCATED]) == ("too_large", "true")
    assert len(letter.value) == dlq.MAX_BODY_BYTES < len(original)
    assert h[dlq.BODY_SHA256] == hashlib.sha256(original).hexdigest()
    async with Tail("kiosk.checkins") as source:
        replayed = await _cli_replay("--only", f"{sent.partition}@{sent.offset}")
        assert replayed.returncode == 0, replayed.stderr
        (again,) = await source.wait_for(lambda r: r.key == key)
    assert again.value == original
    assert headers_of(again) == {"trace": "t1"}


async def test_a_cut_dead_letter_whose_original_is_gone_is_refused_in_one_line():
    import random

    from tests.integration.activities.helpers import Tail

    key = unique("gone").encode()
    offset = random.randrange(10**15, 2 * 10**15)  # beyond anything the partition holds
    headers = {dlq.ORIGINAL_TOPIC: "kiosk.checkins", dlq.ORIGINAL_PARTITION: "0", dlq.ORIGINAL_OFFSET: str(offset),
               dlq.REASON: "too_large", dlq.BODY_TRUNCATED: "true", dlq.BODY_BYTES: str(300 * 1024)}  # fmt: skip
    admin = await producer("admin")
    try:
        await admin.send_and_wait(
            "kiosk.checkins.dlq", b"x" * 1024, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
        )
    finally:
        await admin.stop()
    async with Tail("kiosk.checkins") as source:
        refused = await _cli_replay("--only", f"0@{offset}")
        kiosk = await producer("kiosk")
        try:  # same key, same partition: a replayed record would arrive before this one
            await kiosk.send_and_wait("kiosk.checkins", b"after the replay", key=key)
        finally:
            await kiosk.stop()
        arrived = await source.wait_for(lambda r: r.key == key)
    assert [r.value for r in arrived] == [b"after the replay"]
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"0@{offset}" in lines[0] and "no longer retained" in lines[0], refused.stderr
