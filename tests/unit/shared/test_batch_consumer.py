"""The batch consumer's retry, isolation and dead-letter rules, with the broker replaced by
recording fakes (the real-broker behaviour is covered in tests/integration)."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka.structs import ConsumerRecord

from shared.bus.consumer import BatchConsumer
from shared.bus.decoding import DeadLetter
from shared.events import catalogue
from shared.events.envelope import envelop


class RecordingMessage:
    def __init__(self) -> None:
        self.acked = 0
        self.nacked = 0
        self.consumer = None

    async def ack(self) -> None:
        self.acked += 1

    async def nack(self) -> None:
        self.nacked += 1


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str, int]] = []

    async def publish(self, letters) -> None:
        self.letters.extend((record.offset, letter.code, attempts) for record, letter, attempts in letters)


def _records(n: int, *, bad_at: set[int] = frozenset()) -> list[ConsumerRecord]:
    records = []
    for offset in range(n):
        env = envelop(
            catalogue.CourseCreated(course_id=f"c{offset}", title_zh="z", title_en="e", theme="t"), source="t"
        )
        value = b"{broken" if offset in bad_at else env.body()
        records.append(
            ConsumerRecord(
                topic="activities.catalogue", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                key=b"k", value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                headers=[(k, v.encode()) for k, v in env.headers().items()],
            )
        )  # fmt: skip
    return records


def _consumer(handle, dead_letters, **kwargs) -> BatchConsumer:
    return BatchConsumer(
        service="t", topics=["activities.catalogue"], handle=handle, dead_letters=dead_letters,
        backoff_base_s=0.0, backoff_cap_s=0.0, **kwargs,
    )  # fmt: skip


async def test_undecodable_records_are_dead_lettered_and_the_rest_applied_then_committed():
    applied: list[str] = []

    async def handle(events):
        applied.extend(e.data.course_id for e in events)

    dlq, msg = RecordingDeadLetters(), RecordingMessage()
    await _consumer(handle, dlq).process(_records(5, bad_at={1, 3}), msg)
    assert applied == ["c0", "c2", "c4"]
    assert dlq.letters == [(1, "invalid_json", 1), (3, "invalid_json", 1)]
    assert (msg.acked, msg.nacked) == (1, 0)


async def test_an_event_the_handler_cannot_apply_is_isolated_and_the_others_still_apply():
    applied: list[str] = []

    async def handle(events):
        if any(e.data.course_id == "c2" for e in events):
            raise DeadLetter("cannot_apply", "course c2 conflicts")
        applied.extend(e.data.course_id for e in events)

    dlq, msg = RecordingDeadLetters(), RecordingMessage()
    await _consumer(handle, dlq).process(_records(4), msg)
    assert applied == ["c0", "c1", "c3"]
    assert dlq.letters == [(2, "cannot_apply", 1)]
    assert msg.acked == 1


async def test_a_bug_in_one_event_is_retried_a_bounded_number_of_times_then_dead_lettered():
    calls = {"c1": 0}

    async def handle(events):
        for e in events:
            if e.data.course_id == "c1":
                calls["c1"] += 1
                raise KeyError("bug")

    dlq, msg = RecordingDeadLetters(), RecordingMessage()
    await _consumer(handle, dlq, event_attempts=3).process(_records(3), msg)
    assert calls["c1"] == 1 + 3  # once in the batch, then three attempts alone
    assert dlq.letters == [(1, "handler_error", 3)]
    assert msg.acked == 1


async def test_transient_database_failure_is_retried_then_succeeds_without_dead_letters():
    failures = {"left": 2}

    async def handle(events):
        if failures["left"]:
            failures["left"] -= 1
            raise asyncpg.exceptions.CannotConnectNowError("starting up")

    dlq, msg = RecordingDeadLetters(), RecordingMessage()
    await _consumer(handle, dlq).process(_records(2), msg)
    assert dlq.letters == []
    assert (msg.acked, msg.nacked) == (1, 0)


async def test_persistent_outage_redelivers_the_batch_instead_of_dead_lettering_or_committing():
    async def handle(events):
        raise ConnectionRefusedError("database down")

    dlq, msg = RecordingDeadLetters(), RecordingMessage()
    await _consumer(handle, dlq, transient_attempts=3).process(_records(2), msg)
    assert dlq.letters == []
    assert (msg.acked, msg.nacked) == (0, 1)


async def test_same_event_id_twice_in_one_batch_reaches_the_handler_but_dispatch_applies_it_once():
    from shared.bus.dispatch import Dispatcher

    class FakeUow:
        def __init__(self):
            self.claimed: set[uuid.UUID] = set()

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

        async def claim_many(self, pairs):
            return {event_id for event_id, _ in pairs}

        async def commit(self):
            return None

    applied: list[str] = []

    async def on_course(uow, event, incoming):
        applied.append(event.course_id)

    handle = Dispatcher(FakeUow, {catalogue.CourseCreated: on_course})
    records = _records(1)
    msg = RecordingMessage()
    await _consumer(handle, RecordingDeadLetters()).process(records + records, msg)
    assert applied == ["c0"]
