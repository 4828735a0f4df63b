"""Header keys that are not UTF-8 (any librdkafka client can send them) must not stall a partition.

aiokafka decodes header keys while it parses a fetched batch inside `getmany()`; before the fix a
bad key raised `UnicodeDecodeError` there and the partition stalled at that record for good
(tests/integration/test_poison_records.py shows it on the real broker). These tests drive
aiokafka's own fetcher code (`PartitionRecords`) over batches built byte for byte."""

from __future__ import annotations

import pytest
from aiokafka.consumer.fetcher import READ_COMMITTED, PartitionRecords
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from faststream.kafka.parser import AioKafkaBatchParser

from shared.bus import records as tolerant
from shared.bus.consumer import header_problem
from tests.unit.shared.test_batch_consumer import RecordingDeadLetters, RecordingMessage, _consumer, _records


class _RawKey(str):
    """A header key that encodes to arbitrary bytes, as a non-Python client may send it."""

    def __new__(cls, raw: bytes) -> _RawKey:
        self = super().__new__(cls, raw.decode("latin-1"))
        self.raw = raw
        return self

    def encode(self, *args, **kwargs) -> bytes:
        return self.raw


def _batch(headers_at: dict[int, list], n: int = 5, *, compression: int = 0, base_offset: int = 0) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2, compression_type=compression, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    for i in range(n):
        builder.append(i, timestamp=1_700_000_000_000, key=b"k", value=f"v{i}".encode(), headers=headers_at.get(i, []))
    raw = bytearray(builder.build())
    raw[0:8] = base_offset.to_bytes(8, "big")
    return bytes(raw)


def _fetched(raw: bytes, memory_records=tolerant.TolerantMemoryRecords) -> list:
    records = PartitionRecords(
        TopicPartition("kiosk.checkins", 0), memory_records(raw), [], 0, None, None, True, READ_COMMITTED
    )
    return list(records)


BAD = {2: [(_RawKey(b"\xff\xfe"), b"x"), ("trace", b"t")]}


def test_aiokafka_alone_raises_inside_the_fetcher_on_a_header_key_that_is_not_utf8():
    # The defect as aiokafka has it: why the tolerant records exist (fails once aiokafka fixes it).
    with pytest.raises(UnicodeDecodeError):
        _fetched(_batch(BAD), MemoryRecords)


@pytest.mark.parametrize("compression", [0, 1, 2, 3, 4])  # none, gzip, snappy, lz4, zstd
def test_every_record_of_the_batch_is_fetched_and_the_bad_key_is_marked(compression):
    fetched = _fetched(_batch(BAD, compression=compression) + _batch({}, 2, base_offset=5))
    assert [r.offset for r in fetched] == [0, 1, 2, 3, 4, 5, 6]
    assert [r.value for r in fetched] == [b"v0", b"v1", b"v2", b"v3", b"v4", b"v0", b"v1"]
    (key, value), trace = fetched[2].headers
    assert key == "\ufffd\ufffd" and value == b"x" and value.raw_key == b"\xff\xfe"
    assert trace == ("trace", b"t")
    assert header_problem(fetched[2].headers) == "header key b'\\xff\\xfe' is not UTF-8"
    assert all(header_problem(r.headers) is None for i, r in enumerate(fetched) if i != 2)


def test_valid_batches_are_parsed_by_aiokafka_as_before():
    fetched = _fetched(_batch({1: [("trace", b"t")]}))
    assert [list(r.headers) for r in fetched][:2] == [[], [("trace", b"t")]]
    assert all(type(v) is bytes for r in fetched for _, v in r.headers)


async def test_the_record_with_the_bad_key_is_dead_lettered_and_the_rest_applied():
    records = _records(4)
    records[2].headers = [*records[2].headers, *_fetched(_batch(BAD))[2].headers]
    parser = AioKafkaBatchParser(msg_class=lambda **kw: kw, regex=None)
    dead = RecordingDeadLetters()
    applied: list[int] = []

    async def handle(events) -> None:
        applied.extend(e.record.offset for e in events)

    consumer = _consumer(handle, dead)
    await consumer._parse(tuple(records), parser.parse_batch)
    msg = RecordingMessage()
    await consumer.process(records, msg)
    assert applied == [0, 1, 3]
    assert dead.letters == [(2, "invalid_header", 1)]
    assert msg.acked == 1


def test_an_envelope_header_given_twice_with_different_values_is_a_dead_letter():
    # Which ce_id (or ce_type) would be the event's? Taking the last one silently could merge two
    # events in the inbox or apply one as another type.
    from shared.bus.decoding import DeadLetter, decode_event

    record = _records(1)[0]
    record.headers = [*record.headers, ("ce_id", b"6d1b0c6e-5f0b-4c8e-9d3e-2b1f0e7a9c11")]
    with pytest.raises(DeadLetter) as caught:
        decode_event(record)
    assert (caught.value.code, caught.value.detail) == ("invalid_header", "header 'ce_id' appears twice")


def test_other_repeated_headers_and_identical_repeats_are_accepted():
    from shared.bus.decoding import decode_event

    record = _records(1)[0]
    ce_type = next(v for k, v in record.headers if k == "ce_type")
    record.headers = [*record.headers, ("trace", b"a"), ("trace", b"b"), ("ce_type", ce_type)]
    assert decode_event(record).data.course_id == "c0"
