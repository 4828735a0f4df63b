"""The outbox relay recovers from a producer the broker no longer accepts.

Seen in `make chaos` (tests/integration/chaos/test_chaos_small.py): after the broker restart,
enrolment's relay failed with OutOfOrderSequenceNumber on every retry and 36 outbox rows were
never published, so the harness waited for a quiet stack that never came. Retrying with the same
idempotent producer cannot succeed; a new producer can."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from shared.bus.producer import Producer, needs_new_producer
from shared.bus.relay import OutboxRelay, unsendable_reason


class FakeConn:
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def transaction(self):
        return contextlib.nullcontext()

    async def fetchval(self, sql: str, *args):
        if "pg_try_advisory_xact_lock" in sql:
            return True
        return len(self.rows)

    async def fetch(self, sql: str, *args):
        return list(self.rows)

    async def execute(self, sql: str, ids):
        self.rows[:] = [r for r in self.rows if r["id"] not in ids]


class FakePool:
    def __init__(self, rows: list[dict]) -> None:
        self.conn = FakeConn(rows)

    @contextlib.asynccontextmanager
    async def acquire(self):
        yield self.conn

    async def fetchval(self, sql: str):
        return len(self.conn.rows)


class FakeClient:
    """An aiokafka producer whose every send fails with `error` (None: succeeds)."""

    def __init__(self, error: Exception | None, published: list[bytes]) -> None:
        self.error = error
        self.published = published

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, topic, body, *, key=None, headers=None):
        future = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            self.published.append(body)
            future.set_result(None)
        return future


class StuckProducer(Producer):
    """The real `Producer`, whose first client fails every send with `error` and whose
    replacements publish; `restarts` counts the replacements."""

    def __init__(self, error: Exception) -> None:
        super().__init__(settings=None)
        self.error = error
        self.restarts = -1  # the first start is not a replacement
        self.published: list[bytes] = []

    async def start(self) -> None:
        self.restarts += 1
        self._producer = FakeClient(self.error if self.restarts == 0 else None, self.published)


async def _run_relay(producer: StuckProducer, rows: list[dict], seconds: float) -> None:
    relay = OutboxRelay(FakePool(rows), producer, asyncio.Event(), poll_interval_s=0.01)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_out_of_order_sequence_replaces_the_producer_and_the_rows_are_published():
    rows = [{"id": i, "topic": "t", "key": b"k", "headers": {}, "payload": f"e{i}".encode()} for i in range(3)]
    producer = StuckProducer(OutOfOrderSequenceNumber())
    await producer.start()
    await _run_relay(producer, rows, 0.5)
    assert producer.restarts == 1
    assert producer.published == [b"e0", b"e1", b"e2"]
    assert rows == []


async def test_a_retriable_error_keeps_the_producer():
    rows = [{"id": 1, "topic": "t", "key": b"k", "headers": {}, "payload": b"e1"}]
    producer = StuckProducer(KafkaConnectionError())
    await producer.start()
    await _run_relay(producer, rows, 0.3)
    assert producer.restarts == 0 and producer.published == [] and len(rows) == 1


def test_which_errors_need_a_new_producer():
    assert needs_new_producer(OutOfOrderSequenceNumber())
    assert not needs_new_producer(KafkaConnectionError())
    assert not needs_new_producer(ValueError("not kafka"))


def _row(**changes) -> dict:
    return {
        "id": 1,
        "topic": "enrolment.enrolments",
        "key": b"k",
        "headers": {"ce_id": "x"},
        "payload": b"{}",
    } | changes


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"payload": None}, None),  # a tombstone
        ({"headers": '{"ce_id": "x"}'}, "invalid_headers"),  # the session-4 incident: JSON text in jsonb
        ({"headers": {"ce_id": 7}}, "invalid_headers"),
        ({"headers": ["ce_id", "x"]}, "invalid_headers"),
        ({"topic": ""}, "invalid_topic"),
        ({"topic": "a b"}, "invalid_topic"),
        ({"topic": ".."}, "invalid_topic"),
        ({"topic": "t" * 250}, "invalid_topic"),
        ({"key": None, "payload": None}, "tombstone_without_key"),
        ({"payload": b"x" * 1_000_001}, "too_large"),
        ({"headers": {"h": "\u00e9" * 500_001}}, "too_large"),  # headers count in bytes, not characters
    ],
)
def test_which_outbox_rows_kafka_can_never_take(changes: dict, reason: str | None):
    assert unsendable_reason(_row(**changes)) == reason
