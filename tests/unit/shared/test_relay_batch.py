"""The outbox relay publishes a claimed batch in one round: every row's send is queued before any
ack is awaited (the producer pipelines them), and the batch leaves the outbox in one statement,
after all its acks. A row Kafka can never take is moved aside without holding back the others.

A relay that awaited each row's ack before the next send would pay a broker round trip per event
(notify publishes one `notification.sent` per message sent, issue 18)."""

from __future__ import annotations

import asyncio
import contextlib

from shared.bus.relay import OutboxRelay


class RecordingConn:
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.statements: list[tuple[str, tuple]] = []

    def transaction(self):
        return contextlib.nullcontext()

    async def fetchval(self, sql: str, *args):
        return True  # the advisory lock

    async def fetch(self, sql: str, *args):
        return list(self.rows)

    async def execute(self, sql: str, *args):
        self.statements.append((" ".join(sql.split()), args))


class RecordingPool:
    def __init__(self, rows: list[dict]) -> None:
        self.conn = RecordingConn(rows)

    @contextlib.asynccontextmanager
    async def acquire(self):
        yield self.conn


class AcksAfterAllSends:
    """A producer that acknowledges nothing until `expected` records were queued: a relay that
    waits for one ack before sending the next record never gets past the first."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.pending: list[asyncio.Future] = []
        self.sent: list[bytes] = []
        self.acked_before_all_sent = False

    async def publish(self, body, topic, *, key=None, headers=None, no_confirm=False):
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.sent.append(body)
        if len(self.pending) == self.expected:
            for f in self.pending:
                f.set_result(None)
        if not no_confirm:
            self.acked_before_all_sent = True
            await future
        return future

    async def recover(self, error) -> None: ...


def _rows(n: int) -> list[dict]:
    return [
        {"id": i, "topic": "t", "key": b"k", "headers": {"ce_id": str(i)}, "payload": f"e{i}".encode()}
        for i in range(n)
    ]


async def test_a_batch_is_sent_in_one_round_and_deleted_in_one_statement():
    rows = _rows(50)
    pool, producer = RecordingPool(rows), AcksAfterAllSends(expected=50)
    relay = OutboxRelay(pool, producer, asyncio.Event())  # type: ignore[arg-type]
    published = await asyncio.wait_for(relay.publish_pending(), 5)
    assert published == 50
    assert not producer.acked_before_all_sent
    assert producer.sent == [f"e{i}".encode() for i in range(50)]  # in id order (per-key order)
    deletes = [args for sql, args in pool.conn.statements if sql.startswith("DELETE FROM outbox")]
    assert deletes == [([r["id"] for r in rows],)]
    assert len(pool.conn.statements) == 1


async def test_an_unsendable_row_is_moved_aside_and_the_rest_of_its_batch_goes_in_the_same_round():
    rows = _rows(10)
    rows[3]["headers"] = '{"ce_id": "3"}'  # JSON text instead of an object: Kafka can never take it
    pool, producer = RecordingPool(rows), AcksAfterAllSends(expected=9)
    relay = OutboxRelay(pool, producer, asyncio.Event())  # type: ignore[arg-type]
    assert await asyncio.wait_for(relay.publish_pending(), 5) == 9
    assert b"e3" not in producer.sent and len(producer.sent) == 9
    statements = [sql.split(" (")[0] for sql, _ in pool.conn.statements]
    assert statements == ["INSERT INTO outbox_quarantine", "DELETE FROM outbox WHERE id = ANY($1::bigint[])"]
    assert pool.conn.statements[0][1][0] == [3]
    assert pool.conn.statements[1][1] == ([r["id"] for r in rows],)
