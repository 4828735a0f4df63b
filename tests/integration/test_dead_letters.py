"""Bad input never stalls a partition and never vanishes: it lands in `<topic>.dlq` with the
reason, and the consumer carries on with the next record."""

from __future__ import annotations

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
