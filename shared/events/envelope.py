"""The envelope every learnstreet event travels in.

The body of a Kafka record is the event's data as JSON; the envelope attributes travel as
CloudEvents-style `ce_*` headers (binary content mode), so a consumer can route, deduplicate
and dead-letter a record without parsing its body.

Schema evolution rule: within a major version (`.v1`) fields are only ever added, and every
added field is optional with a default. Removing or re-typing a field means a new type name
(`.v2`) published next to the old one until every consumer has moved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


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
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": str(self.id),
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "content-type": CONTENT_TYPE,
        }
        if self.correlation_id:
            headers["ce_correlationid"] = self.correlation_id
        return headers

    def body(self) -> bytes:
        return orjson.dumps(self.data.model_dump(mode="json"))

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


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)
