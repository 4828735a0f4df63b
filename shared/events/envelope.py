"""The envelope every learnstreet event travels in: its CloudEvents attributes and its data.

How an envelope becomes a Kafka record (`ce_*` headers, JSON body) and back is the codec's
business alone (shared/events/codec.py); `headers()` and `body()` here are its answers.

Schema evolution rule: within a major version (`.v1`) fields are only ever added, and every
added field is optional with a default. Removing or re-typing a field means a new type name
(`.v2`) published next to the old one until every consumer has moved. Each type's JSON Schema
is committed in shared/events/schemas/, and tests/unit/shared/test_event_schemas.py holds every
version to this rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events import codec


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base of every event's data class. Subclasses set the class variables below."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type_name: ClassVar[str]  # learnstreet.<domain>.<subject>.<action>.v<major>
    topic: ClassVar[str]
    key_field: ClassVar[str]  # the field whose value is the Kafka key (per-key order)

    def partition_key(self) -> str:
        return str(getattr(self, self.key_field))


class Envelope(BaseModel):
    """The CloudEvents attributes of one event, plus its data."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    source: str
    time: datetime = Field(default_factory=utcnow)
    subject: str
    correlation_id: str | None = None
    data: EventData

    def headers(self) -> dict[str, str]:
        return codec.header_map(self)

    def body(self) -> bytes:
        return codec.body(self.data)

    @property
    def topic(self) -> str:
        return self.data.topic

    @property
    def key(self) -> bytes:
        return self.subject.encode()


def envelop(
    data: EventData,
    *,
    source: str,
    correlation_id: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Envelope:
    """Wrap event data in an envelope; `event_id` may be derived deterministically by the caller
    when the same fact must always produce the same event id (e.g. one attendance per check-in)."""
    return Envelope(
        id=event_id or uuid.uuid4(),
        type=data.type_name,
        source=source,
        time=time or utcnow(),
        subject=data.partition_key(),
        correlation_id=correlation_id,
        data=data,
    )
