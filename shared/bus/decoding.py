"""Turning a Kafka record into an event, or into a dead letter with a reason code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared.events import catalogue

MAX_RECORD_BYTES = 256 * 1024


class DeadLetter(Exception):
    """An event that can never be applied: it goes to the dead-letter topic with this reason.

    `code` is a short, stable reason code (it becomes a metric label); `detail` says what is
    wrong in words an operator can act on."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Incoming:
    """One decoded event as a handler sees it."""

    event_id: uuid.UUID
    type_name: str
    data: BaseModel
    record: ConsumerRecord
    headers: dict[str, str] = field(default_factory=dict)
    time: datetime | None = None
    correlation_id: str | None = None

    @property
    def topic(self) -> str:
        return self.record.topic


def record_headers(record: ConsumerRecord) -> dict[str, str]:
    # Undecodable header bytes must not break decoding: they are replaced, never raised.
    return {k: (v or b"").decode("utf-8", errors="replace") for k, v in (record.headers or ())}


def parse_json(raw: bytes | None) -> Any:
    if raw is None:
        raise DeadLetter("empty_body", "record has no value (tombstone or empty body)")
    if len(raw) > MAX_RECORD_BYTES:
        raise DeadLetter("too_large", f"body of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise DeadLetter("invalid_json", f"body is not JSON: {e}") from None


def validation_detail(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode_event(record: ConsumerRecord) -> Incoming:
    """Decode an enveloped learnstreet event (ce_* headers + JSON data)."""
    headers = record_headers(record)
    type_name = headers.get("ce_type")
    if not type_name:
        raise DeadLetter("missing_header", "record has no ce_type header")
    try:
        event_id = uuid.UUID(headers.get("ce_id", ""))
    except ValueError:
        raise DeadLetter("missing_header", "ce_id header is missing or not a UUID") from None
    try:
        cls = catalogue.event_class(type_name)
    except catalogue.UnknownEventType as e:
        raise DeadLetter("unknown_type", str(e)) from None
    body = parse_json(record.value)
    try:
        data = cls.model_validate(body)
    except ValidationError as e:
        raise DeadLetter("invalid_event", f"{type_name}: {validation_detail(e)}") from None
    time = None
    if "ce_time" in headers:
        try:
            time = datetime.fromisoformat(headers["ce_time"])
        except ValueError:
            time = None
    return Incoming(
        event_id=event_id,
        type_name=type_name,
        data=data,
        record=record,
        headers=headers,
        time=time,
        correlation_id=headers.get("ce_correlationid"),
    )
