"""Publishing dead letters to `<topic>.dlq` with the reason in headers, and reading them back.

A dead letter always fits: the broker accepts records up to ~1 MiB (message.max.bytes), and a
body that was itself just under that limit plus our `dlq_*` headers would not. Bodies over
`MAX_BODY_BYTES` (the decoders' own limit: nothing larger can be applied anyway) keep their first
bytes and say so (`dlq_body_truncated`, `dlq_body_bytes`, `dlq_body_sha256`); the full record
stays in its source topic at `dlq_original_offset`. Oversized keys and header sets are cut the
same way.

A dead letter that cannot be published at all (the DLQ topic missing, an ACL refusing it, a
broker refusing the record) must neither vanish nor stall the partition: after the producer's
own bounded retries it goes to the `dead_letter_quarantine` table of the service's database, in
a transaction that commits before the consumer commits its offsets; `learnstreet dlq quarantine`
lists and replays them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
from aiokafka.structs import ConsumerRecord

from shared import metrics
from shared.bus.producer import Producer as Publisher  # or a faststream KafkaBroker: same publish()
from shared.events.codec import MAX_RECORD_BYTES, DeadLetter, record_headers
from shared.events.topics import dead_letter_topic

log = logging.getLogger(__name__)

# Header names carried by every dead letter (the original headers are kept as well).
ORIGINAL_TOPIC = "dlq_original_topic"
ORIGINAL_PARTITION = "dlq_original_partition"
ORIGINAL_OFFSET = "dlq_original_offset"
REASON = "dlq_reason"
ERROR_CLASS = "dlq_error_class"
ERROR_MESSAGE = "dlq_error_message"
ATTEMPTS = "dlq_attempts"
FAILED_AT = "dlq_failed_at"
SERVICE = "dlq_service"
# Only on dead letters that were cut to fit.
BODY_TRUNCATED = "dlq_body_truncated"
BODY_BYTES = "dlq_body_bytes"
BODY_SHA256 = "dlq_body_sha256"
KEY_TRUNCATED = "dlq_key_truncated"
HEADERS_DROPPED = "dlq_headers_dropped"

MAX_BODY_BYTES = MAX_RECORD_BYTES
MAX_KEY_BYTES = 16 * 1024
MAX_ORIGINAL_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Letter:
    """A dead letter ready to publish."""

    topic: str
    key: bytes | None
    headers: dict[str, str]
    body: bytes


def letter_headers(
    record: ConsumerRecord, letter: DeadLetter, attempts: int, service: str, failed_at: str
) -> dict[str, str]:
    headers = record_headers(record)
    headers.update(
        {
            ORIGINAL_TOPIC: record.topic,
            ORIGINAL_PARTITION: str(record.partition),
            ORIGINAL_OFFSET: str(record.offset),
            REASON: letter.code,
            ERROR_CLASS: type(letter.__cause__ or letter).__name__,
            ERROR_MESSAGE: letter.detail[:1000],
            ATTEMPTS: str(attempts),
            FAILED_AT: failed_at,
            SERVICE: service,
        }
    )
    return headers


def fit(topic: str, key: bytes | None, headers: Mapping[str, str], body: bytes | None) -> Letter:
    """The dead letter of `body` under `headers`, cut to what any broker accepts; a no-op (one length
    check per part) for the usual small record."""
    body = body or b""
    out = dict(headers)
    if len(body) > MAX_BODY_BYTES:
        out.update({BODY_TRUNCATED: "true", BODY_BYTES: str(len(body)), BODY_SHA256: hashlib.sha256(body).hexdigest()})
        body = body[:MAX_BODY_BYTES]
    if key is not None and len(key) > MAX_KEY_BYTES:
        out[KEY_TRUNCATED] = str(len(key))
        key = key[:MAX_KEY_BYTES]
    original = {k: v for k, v in out.items() if not k.startswith("dlq_")}
    if sum(len(k) + len(v) for k, v in original.items()) > MAX_ORIGINAL_HEADER_BYTES:
        out = {k: v for k, v in out.items() if k.startswith("dlq_")}
        out[HEADERS_DROPPED] = str(len(original))
    return Letter(dead_letter_topic(topic), key, out, body)


class DeadLetterPublisher:
    def __init__(
        self, broker: Publisher, service: str, *, pool: Callable[[], asyncpg.Pool | None] | None = None
    ) -> None:
        self.broker = broker
        self.service = service
        # The service's database, for the quarantine (None: a publish failure raises, as before).
        self.pool = pool or (lambda: None)

    async def publish(self, letters: list[tuple[ConsumerRecord, DeadLetter, int]]) -> None:
        """Publish and wait until Kafka acknowledged every dead letter; what Kafka refuses is
        quarantined in the service's database before this returns."""
        now = datetime.now(UTC).isoformat()
        prepared = []
        for record, letter, attempts in letters:
            headers = letter_headers(record, letter, attempts, self.service, now)
            prepared.append((record, letter, headers, fit(record.topic, record.key, headers, record.value)))
        futures = [await self._send(p[3]) for p in prepared]
        results = await asyncio.gather(*futures, return_exceptions=True)
        refused = [(p, error) for p, error in zip(prepared, results, strict=True) if isinstance(error, BaseException)]
        if refused:
            await self._quarantine(refused)
        for record, letter, _, _ in prepared:
            metrics.DEAD_LETTERED.labels(record.topic, letter.code).inc()

    async def _send(self, letter: Letter) -> asyncio.Future:
        try:
            return await self.broker.publish(
                letter.body, letter.topic, key=letter.key, headers=letter.headers, no_confirm=True
            )
        except Exception as error:  # refused before queueing (size, metadata, authorisation)
            failed: asyncio.Future = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            return failed

    async def _quarantine(self, refused: list) -> None:
        pool = self.pool()
        if pool is None:
            raise refused[0][1]
        rows = [
            (
                record.topic,
                record.partition,
                record.offset,
                letter.code,
                record.key,
                orjson.dumps(headers),
                record.value,
                f"{type(error).__name__}: {error}".replace("\x00", "\ufffd")[:2000],
            )
            for (record, letter, headers, _), error in refused
        ]
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(QUARANTINE_INSERT, rows)
        for (record, letter, _, _), error in refused:
            log.error("dead letter of %s[%d]@%d quarantined: %r", record.topic, record.partition, record.offset, error)
            metrics.DEAD_LETTERS_QUARANTINED.labels(record.topic, letter.code).inc()


QUARANTINE_INSERT = """
INSERT INTO dead_letter_quarantine (topic, partition, "offset", reason, key, headers, value, publish_error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (topic, partition, "offset") DO NOTHING
"""
