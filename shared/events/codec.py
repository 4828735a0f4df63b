"""The event codec: the only code that turns an event into a Kafka record (topic, key, headers,
body) and a record back into an event.

Wire format (CloudEvents binary content mode): the body is the event's data as JSON (orjson, UTC
datetimes with a `Z`, fields in the model's order); the envelope attributes travel as `ce_*`
headers, always in the order of `headers`, so a consumer can route, deduplicate and dead-letter a
record without parsing its body. The record's key is the event's subject: the value of its
`key_field` (per-key order).

Encoding has three entry points that give the same bytes (tests/unit/shared/test_codec_parity.py):
- `encode(envelope)`: from an `Envelope` (the unit of work's outbox, every ordinary producer);
- `Encoder(source).data(data, event_id, time)`: from event data without an Envelope model;
- `Encoder(source).fields(cls, subject, event_id, time, fields)`: the hot path (check-ins), from
  values already validated, in the model's field order and JSON-ready forms, no pydantic model.
The transactional outboxes store records in two forms: `outbox_row` (one row per event, headers
as a JSON object) and `pack`/`unpack` (one batch per row, the headers all events share dropped).
`outbox_template` lets one SQL statement fill in a value only the statement knows (a waitlist
position, a promoted enrolment) without building JSON itself.

Decoding: `decode(record, event_class)` gives an `Incoming` or raises `DeadLetter` with a stable
reason code (shared.bus.decoding.decode_event binds it to the catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from shared.events.envelope import Envelope, EventData

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
MAX_RECORD_BYTES = 256 * 1024

# (topic, key, headers, body): the shape aiokafka's send() and record batches take.
Wire = tuple[str, bytes, list[tuple[str, bytes]], bytes]

_JSON = orjson.OPT_UTC_Z  # the form pydantic's model_dump(mode="json") gives UTC datetimes
_SPEC_VERSION, _CONTENT_TYPE = SPEC_VERSION.encode(), CONTENT_TYPE.encode()


# --- encoding ------------------------------------------------------------------------------------


def body(data: EventData) -> bytes:
    return orjson.dumps(data.model_dump(mode="json"))


class Encoder:
    """Encodes the events of one source; its constant headers are encoded once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._source = source.encode()

    def data(self, data: EventData, event_id: uuid.UUID, time: datetime, correlation_id: str | None = None) -> Wire:
        """The record `encode(envelop(data, ...))` gives, without an Envelope model."""
        return self.wire(type(data), data.partition_key(), event_id, time, body(data), correlation_id)

    def fields(
        self, cls: type[EventData], subject: str, event_id: uuid.UUID, time: datetime, fields: Mapping[str, Any]
    ) -> Wire:
        """The hot path: `fields` are values already validated, in `cls`'s field order and in the
        JSON forms model_dump(mode="json") gives (str ids, enum values, aware datetimes)."""
        return self.wire(cls, subject, event_id, time, orjson.dumps(fields, option=_JSON))

    def wire(
        self,
        cls: type[EventData],
        subject: str,
        event_id: uuid.UUID,
        time: datetime,
        body: bytes,
        correlation_id: str | None = None,
    ) -> Wire:
        key = subject.encode()
        return cls.topic, key, _headers(cls.type_name, self._source, event_id, time, key, correlation_id), body


def _headers(
    type_name: str, source: bytes, event_id: uuid.UUID, time: datetime, subject: bytes, correlation_id: str | None
) -> list[tuple[str, bytes]]:
    headers = [
        ("ce_specversion", _SPEC_VERSION),
        ("ce_id", str(event_id).encode()),
        ("ce_type", type_name.encode()),
        ("ce_source", source),
        ("ce_time", time.isoformat().encode()),
        ("ce_subject", subject),
        ("content-type", _CONTENT_TYPE),
    ]
    if correlation_id:
        headers.append(("ce_correlationid", correlation_id.encode()))
    return headers


def encode(envelope: Envelope) -> Wire:
    key = envelope.subject.encode()
    return envelope.topic, key, _envelope_headers(envelope, key), body(envelope.data)


def header_map(envelope: Envelope) -> dict[str, str]:
    """The envelope's headers as text, in wire order."""
    return {name: value.decode() for name, value in _envelope_headers(envelope, envelope.subject.encode())}


def _envelope_headers(envelope: Envelope, key: bytes) -> list[tuple[str, bytes]]:
    return _headers(envelope.type, envelope.source.encode(), envelope.id, envelope.time, key, envelope.correlation_id)


def wire_headers(headers: Mapping[str, str] | None) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in (headers or {}).items()]


def outbox_row(envelope: Envelope) -> tuple[uuid.UUID, str, bytes, str, bytes]:
    """(event_id, topic, key, headers, payload): a row of the `outbox` table, headers as the text of
    a JSON object (column type jsonb); the relay publishes it as it is."""
    topic, key, headers, payload = encode(envelope)
    return envelope.id, topic, key, _header_object(headers), payload


def _header_object(headers: list[tuple[str, bytes]]) -> str:
    return orjson.dumps({name: value.decode() for name, value in headers}).decode()


@dataclass(frozen=True)
class OutboxTemplate:
    """An `outbox_row` with blanks that one SQL statement fills in with values only it knows (a
    waitlist position, a promoted enrolment and its event id), so SQL never builds event JSON.

    `headers` is JSON text and `payload` UTF-8 JSON text; `blanks` maps a field name (or `ce_id`)
    to the JSON text standing for its value. SQL replaces that text with `to_jsonb(value)::text`,
    the same JSON orjson writes for ids and integers."""

    topic: str
    key: bytes
    headers: str
    payload: str
    blanks: dict[str, str]


def _blank(name: str) -> str:
    return f"@@learnstreet-blank:{name}@@"


def outbox_template(envelope: Envelope, *, fields: Iterable[str] = (), event_id: bool = False) -> OutboxTemplate:
    key = envelope.subject.encode()
    headers = {name: value.decode() for name, value in _envelope_headers(envelope, key)}
    data = envelope.data.model_dump(mode="json")
    blanks = {}
    for name in fields:
        data[name] = _blank(name)
        blanks[name] = f'"{_blank(name)}"'
    if event_id:
        headers["ce_id"] = _blank("ce_id")
        blanks["ce_id"] = f'"{_blank("ce_id")}"'
    return OutboxTemplate(envelope.topic, key, orjson.dumps(headers).decode(), orjson.dumps(data).decode(), blanks)


# The headers every event of a source carries with the same value, or a value found elsewhere in
# the packed row (the subject is the key): not stored per event by `pack`.
_PACKED_AWAY = {"ce_specversion", "ce_source", "content-type", "ce_subject"}


def pack(events: Iterable[Wire]) -> bytes:
    """Many records as one compact JSON value: [[topic, key, source, {other headers}, body], ...],
    each body embedded as JSON, not escaped into a string."""
    fragment = orjson.Fragment
    rows = []
    for topic, key, headers, payload in events:
        varying = {}
        source = ""
        for name, value in headers:
            if name == "ce_source":
                source = value.decode()
            elif name not in _PACKED_AWAY:
                varying[name] = value.decode()
        rows.append([topic, key.decode(), source, varying, fragment(payload)])
    return orjson.dumps(rows)


def unpack(raw: bytes) -> list[Wire]:
    """The records `pack` was given, byte for byte."""
    events = []
    for topic, key, source, varying, payload in orjson.loads(raw):
        headers = [
            ("ce_specversion", _SPEC_VERSION),
            ("ce_id", varying.pop("ce_id").encode()),
            ("ce_type", varying.pop("ce_type").encode()),
            ("ce_source", source.encode()),
            ("ce_time", varying.pop("ce_time").encode()),
            ("ce_subject", key.encode()),
            ("content-type", _CONTENT_TYPE),
            *((name, value.encode()) for name, value in varying.items()),
        ]
        events.append((topic, key.encode(), headers, orjson.dumps(payload)))
    return events


# --- decoding ------------------------------------------------------------------------------------


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


def _check_repeated(headers: Iterable[tuple[str, bytes | None]]) -> None:
    """An envelope attribute given twice with different values is ambiguous (which `ce_id` goes in
    the inbox?): a dead letter. Other repeated headers (tracing) and identical repeats are kept."""
    seen: dict[str, bytes | None] = {}
    for name, value in headers:
        if name.startswith("ce_") and seen.setdefault(name, value) != value:
            raise DeadLetter("invalid_header", f"header {name!r} appears twice")


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
    """The first five errors, and how many there are. A hostile body can hold one error per element
    (20,000 unknown keys); pydantic has them all, so skip what is not shown (input values, URLs,
    contexts), which was half the CPU such a record cost."""
    errors = error.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in errors[:5]]
    detail = "; ".join(parts)
    return detail if len(errors) <= 5 else f"{detail} ({len(errors)} errors in all)"


def decode(record: ConsumerRecord, event_class: Callable[[str], type[BaseModel] | None]) -> Incoming:
    """Decode an enveloped learnstreet event (ce_* headers + JSON data); `event_class` gives the
    model of a type name, None for an unknown one (the catalogue's `BY_TYPE_NAME.get`: the codec
    knows the wire format, not the events)."""
    headers = record_headers(record)
    if len(headers) != len(record.headers or ()):  # a name given twice: the cheap check on the hot path
        _check_repeated(record.headers)
    type_name = headers.get("ce_type")
    if not type_name:
        raise DeadLetter("missing_header", "record has no ce_type header")
    try:
        event_id = uuid.UUID(headers.get("ce_id", ""))
    except ValueError:
        raise DeadLetter("missing_header", "ce_id header is missing or not a UUID") from None
    cls = event_class(type_name)
    if cls is None:
        raise DeadLetter("unknown_type", f"unknown event type {type_name!r}")
    data = parse_json(record.value)
    try:
        event = cls.model_validate(data)
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
        data=event,
        record=record,
        headers=headers,
        time=time,
        correlation_id=headers.get("ce_correlationid"),
    )
