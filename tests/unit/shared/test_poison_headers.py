"""Header values faststream cannot parse (null, not UTF-8) must not lose the batch around them.

Guards issue 13's reproduction at unit level with faststream's real batch parser: before the fix
the parser raised AttributeError on a null header value before our handler ran, so the batch was
neither applied nor redelivered (tests/integration/test_poison_records.py shows it end to end)."""

from __future__ import annotations

from faststream.kafka.parser import AioKafkaBatchParser

from shared.bus.consumer import header_problem
from tests.unit.shared.test_batch_consumer import RecordingDeadLetters, RecordingMessage, _consumer, _records


async def _parse_and_process(records, consumer) -> tuple[list, RecordingMessage]:
    parser = AioKafkaBatchParser(msg_class=lambda **kw: kw, regex=None)
    parsed = await consumer._parse(tuple(records), parser.parse_batch)
    assert len(parsed["raw_message"]) == len(records)
    applied: list[int] = []

    async def handle(events) -> None:
        applied.extend(e.record.offset for e in events)

    consumer.handle = handle
    msg = RecordingMessage()
    await consumer.process(list(records), msg)
    return applied, msg


async def test_null_and_non_utf8_header_values_are_dead_lettered_and_the_rest_applied():
    records = _records(6)
    records[1].headers = [*records[1].headers, ("trace", None)]
    records[4].headers = [*records[4].headers, ("trace", b"\xff\xfe")]
    dead = RecordingDeadLetters()
    applied, msg = await _parse_and_process(records, _consumer(None, dead))
    assert applied == [0, 2, 3, 5]
    assert dead.letters == [(1, "invalid_header", 1), (4, "invalid_header", 1)]
    assert msg.acked == 1 and msg.nacked == 0


async def test_clean_batch_is_parsed_without_marking_anything():
    records = _records(3)
    dead = RecordingDeadLetters()
    applied, msg = await _parse_and_process(records, _consumer(None, dead))
    assert applied == [0, 1, 2] and dead.letters == [] and msg.acked == 1


def test_header_problem_names_the_header_and_the_reason():
    assert header_problem([("a", b"x"), ("trace", None)]) == "header 'trace' has a null value"
    assert header_problem([("trace", b"\xc3")]) == "header 'trace' is not UTF-8"
    assert header_problem([("a", "中文".encode())]) is None
