"""The outbox relay: publishes the events services wrote to their `outbox` table.

Rows are read in id order under a transaction-level advisory lock, so several relays (several
instances of a service) never publish the same rows at once and per-key order holds. Rows are
deleted only after Kafka acknowledged all of them (acks=all, idempotent producer); a crash in
between publishes them again, and consumers' inboxes drop the duplicates.

A row Kafka can never take (`unsendable_reason`, or a send refused for the record itself) would fail
every batch for good and hold back every event behind it, so it moves to `outbox_quarantine` with
the reason, in the transaction that deletes the published rows. A failure of Kafka or of the
producer (broker down, fenced producer) is no reason to quarantine: the batch is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from shared import metrics
from shared.bus.producer import Producer as Publisher

log = logging.getLogger(__name__)
_RELAY_LOCK = 0x0B7B_0C5
# Below the producer's max_request_size (1 MiB) and the broker's message.max.bytes, with room for
# the batch's own overhead.
MAX_RECORD_BYTES = 1_000_000
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# Refusals of the record itself: sending it again can never succeed.
_RECORD_FAULTS: dict[type[Exception], str] = {
    MessageSizeTooLargeError: "too_large",
    RecordTooLargeError: "too_large",
    RecordListTooLargeError: "too_large",
    InvalidTopicError: "invalid_topic",
}


def unsendable_reason(row: Mapping[str, Any], max_record_bytes: int = MAX_RECORD_BYTES) -> str | None:
    """Why Kafka could never take this outbox row, or None."""
    topic, key, headers, payload = row["topic"], row["key"], row["headers"], row["payload"]
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        return "invalid_topic"
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        return "invalid_headers"
    if payload is None and key is None:
        return "tombstone_without_key"  # a null value deletes a key; without one it means nothing
    size = len(key or b"") + len(payload or b"") + sum(len(k) + len(v.encode()) for k, v in headers.items())
    if size > max_record_bytes:
        return "too_large"
    return None


def _record_fault(error: BaseException) -> str | None:
    return next((reason for kind, reason in _RECORD_FAULTS.items() if isinstance(error, kind)), None)


_QUARANTINE = """
    INSERT INTO outbox_quarantine (outbox_id, event_id, topic, key, headers, payload, reason, error, created_at)
    SELECT o.id, o.event_id, o.topic, o.key, o.headers::text, o.payload, q.reason, q.error, o.created_at
      FROM unnest($1::bigint[], $2::text[], $3::text[]) AS q(id, reason, error)
      JOIN outbox o ON o.id = q.id
    ON CONFLICT (event_id) DO NOTHING"""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: Publisher,
        signal: asyncio.Event,
        *,
        batch_size: int = 5000,
        poll_interval_s: float = 0.5,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.signal = signal
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_record_bytes = max_record_bytes
        self._task: asyncio.Task | None = None

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published (0: nothing, or locked)."""
        quarantined: list[tuple[int, str, str]] = []  # (outbox id, reason, error)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, headers, payload FROM outbox ORDER BY id LIMIT $1", self.batch_size
            )
            if not rows:
                metrics.OUTBOX_BACKLOG.set(0)
                return 0
            sent = []
            for row in rows:
                if (reason := unsendable_reason(row, self.max_record_bytes)) is not None:
                    quarantined.append((row["id"], reason, f"refused before sending: {reason}"))
                    continue
                try:
                    future = await self.broker.publish(
                        row["payload"], row["topic"], key=row["key"], headers=row["headers"], no_confirm=True
                    )
                except Exception as error:
                    if (reason := _record_fault(error)) is None:
                        raise
                    quarantined.append((row["id"], reason, repr(error)))
                    continue
                sent.append((row, future))
            outcomes = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
            published = []
            for (row, _), outcome in zip(sent, outcomes, strict=True):
                if not isinstance(outcome, BaseException):
                    published.append(row)
                elif (reason := _record_fault(outcome)) is not None:
                    quarantined.append((row["id"], reason, repr(outcome)))
                else:
                    raise outcome
            if quarantined:
                await conn.execute(_QUARANTINE, *map(list, zip(*quarantined, strict=True)))
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        for row in published:
            metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()
        topics = {r["id"]: r["topic"] for r in rows}
        for outbox_id, reason, error in quarantined:
            metrics.OUTBOX_QUARANTINED.labels(str(topics[outbox_id])[:249], reason).inc()
            log.error("outbox row %d quarantined (%s): %s", outbox_id, reason, error)
        return len(published)

    async def backlog(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox")

    async def run(self) -> None:
        failures = 0
        while True:
            self.signal.clear()
            try:
                published = await self.publish_pending()
                failures = 0
                if published >= self.batch_size:
                    continue
                metrics.OUTBOX_BACKLOG.set(await self.backlog())
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                metrics.OUTBOX_PUBLISH_ERRORS.inc()
                log.warning("outbox relay failed (%d in a row): %r", failures, error)
                await self.broker.recover(error)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.signal.wait(), self.poll_interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is None:
            return
        # One last drain so a graceful stop leaves nothing behind that Kafka could take now.
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.publish_pending(), 5)
