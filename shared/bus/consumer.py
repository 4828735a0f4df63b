"""A batch consumer that loses nothing, counts nothing twice and never stalls a partition.

For every batch of records it:
1. decodes each record; what cannot be decoded is a dead letter at once;
2. hands the decoded events to the service's batch handler, which applies them in ONE database
   transaction together with their inbox rows (so redelivered events are skipped);
3. retries transient failures (database or broker unavailable) with bounded exponential backoff
   and jitter; if they persist, seeks back and lets the next poll redeliver the batch;
4. if the handler fails for another reason, applies the events one by one to isolate the bad
   one, which becomes a dead letter with its reason;
5. publishes dead letters to `<topic>.dlq` and waits for Kafka's acknowledgement;
6. only then commits the consumer offsets.

Offsets are committed after the database transaction, so a crash in between redelivers the
batch and the inbox makes that harmless. See docs/decisions/0002-kafka-consumption.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.schemas import Topic

from shared import metrics
from shared.bus import records as tolerant_records
from shared.bus.dead_letters import DeadLetterPublisher
from shared.bus.decoding import DeadLetter, Incoming, decode_event
from shared.events.topics import group_id as group_id_for

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Incoming]], Awaitable[None]]
Decoder = Callable[[ConsumerRecord], Incoming]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # pg_terminate_backend, admin shutdown
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    # Undefined table/column, privileges: the code and the schema disagree during a deployment.
    # That is the platform's fault, not the event's: wait for the fix instead of dead-lettering.
    asyncpg.exceptions.SyntaxOrAccessError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, KafkaError):
        return bool(getattr(error, "retriable", False))
    return isinstance(error, TRANSIENT_ERRORS)


# Dead letters a handler found while applying the rest of its batch (see `dead_letter`).
_FOUND: contextvars.ContextVar[list | None] = contextvars.ContextVar("dead_letters_found", default=None)


def dead_letter(event: Incoming, letter: DeadLetter) -> None:
    """Called by a batch handler that applies its batch but refuses `event` (a check-in reusing
    another scan's id): the consumer publishes the dead letter once the handler has returned, before
    it commits offsets. Raising instead would fail the whole batch and apply it event by event."""
    found = _FOUND.get()
    if found is None:  # not under a consumer (a test, a sweeper): nothing would publish it
        raise letter
    found.append((event.record, letter, 1))


class TransientFailure(Exception):
    """Retries of a transient failure ran out; the batch is redelivered by the next poll."""


async def _sleep_backoff(attempt: int, base: float, cap: float) -> None:
    # Full jitter (AWS architecture blog): spreads retries of many consumers.
    await asyncio.sleep(random.uniform(0, min(cap, base * 2 ** (attempt - 1))))


class BatchConsumer:
    """Consumes `topics` in batches for one service and hands decoded events to `handle`."""

    def __init__(
        self,
        *,
        service: str,
        topics: Sequence[str],
        handle: BatchHandler,
        dead_letters: DeadLetterPublisher,
        decoder: Decoder = decode_event,
        group_id: str | None = None,
        max_records: int = 2000,
        batch_timeout_ms: int = 50,
        max_poll_interval_ms: int = 60_000,
        session_timeout_ms: int = 6_000,
        heartbeat_interval_ms: int = 1_000,
        event_attempts: int = 3,
        transient_attempts: int = 6,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 5.0,
        title: str | None = None,
        description: str | None = None,
    ) -> None:
        self.service = service
        self.topics = list(topics)
        self.handle = handle
        self.dead_letters = dead_letters
        self.decoder = decoder
        self.group_id = group_id or group_id_for(service)
        self.max_records = max_records
        self.batch_timeout_ms = batch_timeout_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.event_attempts = event_attempts
        self.transient_attempts = transient_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.title = title or f"{service}:{'+'.join(self.topics)}"
        self.description = description
        # Records whose headers faststream could not parse (null or non-UTF-8 values), by id():
        # they are dead-lettered with the reason instead of being applied.
        self._bad_headers: dict[int, str] = {}

    def register(self, broker: KafkaBroker) -> Any:
        tolerant_records.install()  # header keys that are not UTF-8 (shared/bus/records.py)
        subscriber = broker.subscriber(
            *[Topic(t, declare=False) for t in self.topics],
            group_id=self.group_id,
            batch=True,
            max_records=self.max_records,
            batch_timeout_ms=self.batch_timeout_ms,
            auto_offset_reset="earliest",
            # Records of aborted (or still open) producer transactions are never applied.
            isolation_level="read_committed",
            ack_policy=AckPolicy.MANUAL,
            max_poll_interval_ms=self.max_poll_interval_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            parser=self._parse,
            decoder=_raw_decoder,
            title=self.title,
            description=self.description,
        )

        async def on_batch(body: list[Any], msg: KafkaMessage) -> None:
            try:
                await self.process(list(msg.raw_message), msg)
            except BaseException:
                # Anything escaping (a dead-letter publish during a broker outage, cancellation at
                # shutdown) must not let the next batch's commit skip these records: seek back.
                with contextlib.suppress(Exception):
                    await msg.nack()
                raise

        subscriber(on_batch)
        return subscriber

    async def _parse(self, records: tuple[ConsumerRecord, ...], original: Callable) -> Any:
        # faststream decodes every header value as UTF-8 and fails the whole batch on a null value
        # or one bad byte (or the mark of a header key that was not UTF-8, shared/bus/records.py);
        # that failure happens before our handler runs, so the batch would be neither applied nor
        # redelivered and the next commit would move past it (issue 13: 373 valid check-ins lost
        # behind one record). Only when that happens, find the bad records, remember them for
        # dead-lettering and give faststream headers it can parse.
        try:
            return await original(records)
        except Exception:
            for record in records:
                problem = header_problem(record.headers or ())
                if problem is not None:
                    self._bad_headers[id(record)] = problem
                    record.headers = _sanitised(record.headers)
            return await original(records)

    async def process(self, records: list[ConsumerRecord], msg: KafkaMessage) -> None:
        started = time.perf_counter()
        dead: list[tuple[ConsumerRecord, DeadLetter, int]] = []
        events: list[Incoming] = []
        bad_headers, self._bad_headers = self._bad_headers, {}
        for record in records:
            if bad_headers and id(record) in bad_headers:
                dead.append((record, DeadLetter("invalid_header", bad_headers[id(record)]), 1))
                continue
            try:
                events.append(self.decoder(record))
            except DeadLetter as letter:
                dead.append((record, letter, 1))
            except Exception as error:  # a decoder bug must not stall the partition either
                dead.append((record, DeadLetter("undecodable", f"{type(error).__name__}: {error}"), 1))
        try:
            if events:
                await self._with_transient_retries(lambda: self._handle(events, dead), records[0].topic)
        except TransientFailure:
            await self._redeliver(msg)
            return
        except Exception as error:
            log.warning("batch of %d failed (%r); applying events one by one", len(events), error)
            try:
                dead.extend(await self._apply_one_by_one(events))
            except TransientFailure:
                await self._redeliver(msg)
                return
        if dead:
            await self.dead_letters.publish(dead)
        await msg.ack()
        await self._observe(records, msg, started)

    async def _apply_one_by_one(self, events: list[Incoming]) -> list[tuple[ConsumerRecord, DeadLetter, int]]:
        dead = []
        for event in events:
            for attempt in range(1, self.event_attempts + 1):
                try:
                    await self._with_transient_retries(lambda e=event: self._handle([e], dead), event.topic)
                    break
                except DeadLetter as letter:
                    dead.append((event.record, letter, attempt))
                    break
                except TransientFailure:
                    raise
                except Exception as error:
                    if attempt == self.event_attempts:
                        letter = DeadLetter("handler_error", f"{type(error).__name__}: {error}")
                        dead.append((event.record, letter, attempt))
                    else:
                        await _sleep_backoff(attempt, self.backoff_base_s, self.backoff_cap_s)
        return dead

    async def _handle(self, events: list[Incoming], dead: list) -> None:
        # What the handler refused counts only if its transaction committed (a retry finds it again).
        found: list = []
        token = _FOUND.set(found)
        try:
            await self.handle(events)
        finally:
            _FOUND.reset(token)
        dead.extend(found)

    async def _with_transient_retries(self, call: Callable[[], Awaitable[None]], topic: str) -> None:
        for attempt in range(1, self.transient_attempts + 1):
            try:
                await call()
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                metrics.HANDLER_RETRIES.labels(topic).inc()
                log.warning("transient failure on %s (attempt %d): %r", topic, attempt, error)
                if attempt == self.transient_attempts:
                    raise TransientFailure(str(error)) from error
                await _sleep_backoff(attempt, self.backoff_base_s, self.backoff_cap_s)

    async def _redeliver(self, msg: KafkaMessage) -> None:
        # Seek every partition of the batch back to its first record: nothing is committed past
        # an unapplied event, and the next poll (after the backoff above) tries again.
        await msg.nack()

    async def _observe(self, records: list[ConsumerRecord], msg: KafkaMessage, started: float) -> None:
        now = time.time()
        counts: dict[str, int] = {}
        for record in records:
            counts[record.topic] = counts.get(record.topic, 0) + 1
        for topic, n in counts.items():
            metrics.EVENTS_CONSUMED.labels(topic).inc(n)
            metrics.LAST_BATCH.labels(topic).set(now)
            metrics.BATCH_DURATION.labels(topic).observe(time.perf_counter() - started)
        consumer = getattr(msg, "consumer", None)
        if consumer is None or not hasattr(consumer, "assignment"):
            return
        for tp in consumer.assignment():
            await update_lag(consumer, tp)


async def update_lag(consumer: Any, tp: TopicPartition) -> None:
    try:
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
    except Exception:  # not fetched yet, or the assignment changed under us
        return
    if highwater is not None and position is not None:
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))


def header_problem(headers: Sequence[tuple[str, bytes | None]]) -> str | None:
    """What is wrong with a record's headers for us, or None. The kiosk contract and the envelope
    carry UTF-8 text in every header; a null value or other bytes mean a buggy or hostile client."""
    for key, value in headers:
        if isinstance(value, tolerant_records.UndecodableHeaderKey):
            return f"header key {value.raw_key!r} is not UTF-8"
        if value is None:
            return f"header {key!r} has a null value"
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return f"header {key!r} is not UTF-8"
    return None


def _sanitised(headers: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
    return [(k, (v or b"").decode("utf-8", errors="replace").encode()) for k, v in headers]


async def _raw_decoder(msg: Any, original: Callable) -> Any:
    # The handler works on the raw records; skip faststream's JSON decoding of every body.
    return msg.body
