"""A plain aiokafka producer for the outbox relay and the dead-letter publisher.

faststream's `broker.publish` runs its middleware chain per message; for the relay's bulk
publishing that halves the rate (measured: ~27k/s through the broker, ~50k/s with the bare
producer, same settings). The guarantees are the same: acks=all and idempotence.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.events import codec
from shared.settings import ServiceSettings


def idempotent_producer(
    settings: ServiceSettings, *, role: str, linger_ms: int = 2, max_batch_size: int = 256 * 1024
) -> AIOKafkaProducer:
    """An acks=all, idempotent producer with the service's SCRAM credentials."""
    return AIOKafkaProducer(
        **settings.kafka_client_kwargs(),
        client_id=f"learnstreet-{settings.service}-{role}",
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
    )


def needs_new_producer(error: BaseException) -> bool:
    """True when retrying with the same producer cannot succeed. The case seen in `make chaos`: after a
    broker restart the broker no longer accepts the idempotent producer's sequence numbers
    (OutOfOrderSequenceNumber) and every retry fails the same way, so the outbox stalls for good. A
    new producer (a new producer id) publishes again; the rows are still in the outbox and consumers
    drop what was already delivered by its event id."""
    return isinstance(error, KafkaError) and not error.retriable


class Producer:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = idempotent_producer(self._settings, role="relay")
        await producer.start()
        self._producer = producer

    @property
    def running(self) -> bool:
        return self._producer is not None

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def restart(self) -> None:
        """Replace the producer by a new one (see `needs_new_producer`)."""
        old, self._producer = self._producer, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        await self.start()

    async def publish(
        self,
        body: bytes,
        topic: str,
        *,
        key: bytes | None = None,
        headers: dict[str, str] | None = None,
        no_confirm: bool = False,
    ) -> asyncio.Future | object:
        """Same call shape as faststream's `broker.publish`: with `no_confirm` it returns the
        delivery future once the record is queued (in call order), else waits for the ack."""
        if self._producer is None:
            raise RuntimeError("producer not started")
        future = await self._producer.send(topic, body, key=key, headers=codec.wire_headers(headers))
        return future if no_confirm else await future
