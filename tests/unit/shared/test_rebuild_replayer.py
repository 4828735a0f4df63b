"""The rebuild's replayer (shared/rebuild.py) without Kafka: a fake consumer serves fixed partitions."""

from __future__ import annotations

import asyncio

from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.bus.decoding import DeadLetter
from shared.events import catalogue
from shared.events.envelope import envelop
from shared.rebuild import Replayer, retrying

TP = TopicPartition("activities.catalogue", 0)


def _record(offset: int, *, broken: bool = False) -> ConsumerRecord:
    env = envelop(catalogue.CourseCreated(course_id=f"c{offset}", title_zh="z", title_en="e", theme="t"), source="t")
    value = b"{broken" if broken else env.body()
    return ConsumerRecord(
        topic=TP.topic, partition=TP.partition, offset=offset, timestamp=0, timestamp_type=0, key=b"k",
        value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
        headers=[(k, v.encode()) for k, v in env.headers().items()],
    )  # fmt: skip


class FakeConsumer:
    """Serves records from `next_offset` on, `per_fetch` at a time, like getmany after a seek."""

    def __init__(self, records: list[ConsumerRecord], per_fetch: int) -> None:
        self.records = {r.offset: r for r in records}
        self.next_offset = 0
        self.per_fetch = per_fetch
        self.seeks: list[int] = []

    async def getmany(self, *partitions, timeout_ms: int, max_records: int):
        batch = [self.records[o] for o in sorted(self.records) if o >= self.next_offset][: self.per_fetch]
        if not batch:
            return {}
        self.next_offset = batch[-1].offset + 1
        return {TP: batch}

    def seek(self, tp, offset: int) -> None:
        self.seeks.append(offset)
        self.next_offset = offset

    async def position(self, tp) -> int:
        return self.next_offset


def test_replays_up_to_the_target_and_rereads_what_it_fetched_past_it_for_a_later_target():
    consumer = FakeConsumer([_record(o) for o in range(10)], per_fetch=4)
    applied: list[list[str]] = []

    async def apply(batch):
        applied.append([e.data.course_id for e in batch])

    replayer = Replayer(consumer, apply, check=lambda event: None, batch_size=100)
    asyncio.run(replayer.replay_to({TP: 5}))
    assert [c for batch in applied for c in batch] == [f"c{o}" for o in range(6)]
    assert consumer.seeks == [6]  # offsets 6 and 7 came in the second fetch and were not applied
    asyncio.run(replayer.replay_to({TP: 9}))
    assert [c for batch in applied for c in batch] == [f"c{o}" for o in range(10)]
    assert replayer.records == 10 and replayer.remaining({TP: 9}) == 0


def test_what_the_live_consumer_dead_letters_is_counted_and_not_applied():
    consumer = FakeConsumer([_record(0), _record(1, broken=True), _record(2), _record(3)], per_fetch=10)
    applied: list[str] = []

    async def apply(batch):
        applied.extend(e.data.course_id for e in batch)

    def check(event):
        if event.data.course_id == "c3":
            raise DeadLetter("invalid_event", "refused by the projection's own check")

    replayer = Replayer(consumer, apply, check=check, batch_size=100)
    asyncio.run(replayer.replay_to({TP: 3}))
    assert applied == ["c0", "c2"]
    assert (replayer.records, replayer.dead) == (4, 2)


def test_an_offset_gap_below_the_target_ends_the_replay():
    # Offsets 3 and 4 were compacted away or were transaction markers: the target 4 is never fetched.
    consumer = FakeConsumer([_record(0), _record(1), _record(2), _record(5)], per_fetch=10)
    consumer.records.pop(5)

    async def apply(batch):
        pass

    replayer = Replayer(consumer, apply, check=lambda event: None, batch_size=100)
    consumer.next_offset = 0

    async def run():
        await replayer.replay_to({TP: 2})
        consumer.next_offset = 5  # the broker's position moved past the gap
        await replayer.replay_to({TP: 4})

    asyncio.run(run())
    assert replayer.position[TP] == 5 and replayer.records == 3


def test_a_transient_failure_is_retried_and_another_is_raised():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("connection terminated")
        return "done"

    retried: list[BaseException] = []
    assert asyncio.run(retrying(flaky, on_retry=retried.append)) == "done"
    assert len(calls) == 2 and isinstance(retried[0], ConnectionResetError)

    async def broken():
        raise ValueError("not transient")

    try:
        asyncio.run(retrying(broken))
    except ValueError:
        pass
    else:
        raise AssertionError("a non-transient failure must not be retried")
