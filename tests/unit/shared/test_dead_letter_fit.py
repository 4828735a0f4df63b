"""A dead letter always fits the broker, and one Kafka refuses is quarantined, never lost or retried
forever (the real-broker versions: tests/integration/test_poison_records.py and test_dead_letters.py)."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError, TopicAuthorizationFailedError

from shared import metrics
from shared.bus import dead_letters as dlq
from shared.bus.consumer import BatchConsumer
from shared.bus.decoding import DeadLetter
from tests.unit.shared.test_batch_consumer import RecordingMessage, _records


def test_a_small_dead_letter_is_left_as_it_is():
    letter = dlq.fit("kiosk.checkins", b"r1", {"a": "b", dlq.REASON: "x"}, b"{}")
    assert letter == dlq.Letter("kiosk.checkins.dlq", b"r1", {"a": "b", dlq.REASON: "x"}, b"{}")


def test_a_body_over_the_limit_keeps_its_first_bytes_size_and_digest():
    body = b"x" * (1024 * 1024 - 100)
    letter = dlq.fit("kiosk.checkins", b"r1", {dlq.REASON: "too_large"}, body)
    assert letter.body == body[: dlq.MAX_BODY_BYTES]
    assert letter.headers == {
        dlq.REASON: "too_large", dlq.BODY_TRUNCATED: "true", dlq.BODY_BYTES: str(len(body)),
        dlq.BODY_SHA256: hashlib.sha256(body).hexdigest(),
    }  # fmt: skip


def test_huge_keys_and_header_sets_are_cut_and_named():
    headers = {f"h{i}": "v" * 1000 for i in range(100)} | {dlq.REASON: "invalid_checkin"}
    letter = dlq.fit("kiosk.checkins", b"k" * 100_000, headers, b"{}")
    assert letter.key == b"k" * dlq.MAX_KEY_BYTES
    assert letter.headers == {dlq.REASON: "invalid_checkin", dlq.KEY_TRUNCATED: "100000", dlq.HEADERS_DROPPED: "100"}


class RefusingBroker:
    """Refuses the offsets in `refuse` the way aiokafka does: some at send(), some in the future."""

    def __init__(self, refuse_at_send: set[int] = frozenset(), refuse_later: set[int] = frozenset()) -> None:
        self.refuse_at_send, self.refuse_later = refuse_at_send, refuse_later
        self.published: list[str] = []

    async def publish(self, body, topic, *, key=None, headers=None, no_confirm=False):
        offset = int(headers[dlq.ORIGINAL_OFFSET])
        if offset in self.refuse_at_send:
            raise MessageSizeTooLargeError("too big")
        future = asyncio.get_running_loop().create_future()
        if offset in self.refuse_later:
            future.set_exception(TopicAuthorizationFailedError("denied"))
        else:
            self.published.append(headers[dlq.ORIGINAL_OFFSET])
            future.set_result(None)
        return future


class RecordingPool:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple] = []
        self.fail = fail

    def acquire(self):
        pool = self

        class Conn:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                return False

            def transaction(self):
                return self

            async def executemany(self, sql, rows):
                if pool.fail:
                    raise OSError("database down")
                pool.rows.extend(rows)

        return Conn()


def _consumer(dead_letters) -> BatchConsumer:
    async def handle(events):
        return None

    return BatchConsumer(
        service="t", topics=["activities.catalogue"], handle=handle, dead_letters=dead_letters,
        backoff_base_s=0.0, backoff_cap_s=0.0,
    )  # fmt: skip


async def test_refused_dead_letters_are_quarantined_and_the_batch_committed():
    before = metrics.DEAD_LETTERS_QUARANTINED.labels("activities.catalogue", "invalid_json")._value.get()
    broker, pool = RefusingBroker(refuse_at_send={1}, refuse_later={3}), RecordingPool()
    msg = RecordingMessage()
    await _consumer(dlq.DeadLetterPublisher(broker, "t", pool=lambda: pool)).process(_records(5, bad_at={1, 2, 3}), msg)
    assert broker.published == ["2"]
    assert [(r[0], r[2], r[3]) for r in pool.rows] == [
        ("activities.catalogue", 1, "invalid_json"), ("activities.catalogue", 3, "invalid_json"),
    ]  # fmt: skip
    assert orjson.loads(pool.rows[0][5])[dlq.REASON] == "invalid_json"
    assert pool.rows[0][6] == b"{broken" and "MessageSizeTooLarge" in pool.rows[0][7]
    assert (msg.acked, msg.nacked) == (1, 0)
    after = metrics.DEAD_LETTERS_QUARANTINED.labels("activities.catalogue", "invalid_json")._value.get()
    assert after - before == 2


async def test_when_the_quarantine_cannot_be_written_either_nothing_is_committed():
    broker, pool = RefusingBroker(refuse_later={1}), RecordingPool(fail=True)
    msg = RecordingMessage()
    with pytest.raises(OSError):
        await _consumer(dlq.DeadLetterPublisher(broker, "t", pool=lambda: pool)).process(_records(3, bad_at={1}), msg)
    assert msg.acked == 0  # BatchConsumer's handler nacks on the way out: the batch is redelivered


async def test_a_hostile_header_with_a_nul_character_is_quarantined_as_bytes():
    records = _records(2, bad_at={1})
    records[1].headers = [*records[1].headers, ("trace", b"a\x00b")]
    pool = RecordingPool()
    await dlq.DeadLetterPublisher(RefusingBroker(refuse_later={1}), "t", pool=lambda: pool).publish(
        [(records[1], DeadLetter("invalid_json", "x"), 1)]
    )
    assert orjson.loads(pool.rows[0][5])["trace"] == "a\x00b"
