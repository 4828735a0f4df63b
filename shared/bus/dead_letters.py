"""Publishing dead letters to `<topic>.dlq` with the reason in headers, and reading them back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord

from shared import metrics
from shared.bus.producer import Producer as Publisher  # or a faststream KafkaBroker: same publish()
from shared.events.codec import DeadLetter, record_headers
from shared.events.topics import dead_letter_topic

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


class DeadLetterPublisher:
    def __init__(self, broker: Publisher, service: str) -> None:
        self.broker = broker
        self.service = service

    async def publish(self, letters: list[tuple[ConsumerRecord, DeadLetter, int]]) -> None:
        """Publish and wait until Kafka acknowledged every dead letter."""
        futures = []
        now = datetime.now(UTC).isoformat()
        for record, letter, attempts in letters:
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
                    FAILED_AT: now,
                    SERVICE: self.service,
                }
            )
            futures.append(
                await self.broker.publish(
                    record.value or b"",
                    dead_letter_topic(record.topic),
                    key=record.key,
                    headers=headers,
                    no_confirm=True,
                )
            )
        await asyncio.gather(*futures)
        for record, letter, _ in letters:
            metrics.DEAD_LETTERED.labels(record.topic, letter.code).inc()
