"""The codec's three ways of encoding an event give the same record, byte for byte: from an
Envelope (`encode`), from event data (`Encoder.data`, the check-in outbox's adjusted and rejected
events) and from validated fields without a model (`Encoder.fields`, the check-in hot path's
attendance.recorded). The outbox forms (`outbox_row`, `pack`, the SQL templates of enrolment) give
back that same record, and `decode` reads it back to the same event."""

from __future__ import annotations

import enum
import types
import typing
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import orjson
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime

from services.activities.adapters.cache import Caches, CourseInfo, ResidentInfo
from services.activities.domain import model
from services.activities.domain.model import Attendance, Session
from services.activities.service_layer.checkins import SOURCE, CheckinProcessor, _event
from shared.bus.decoding import decode_event
from shared.events import catalogue as ev
from shared.events import codec
from shared.events.envelope import EventData, envelop

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Whole-minute offsets from -12h to +14h, UTC among them (written as `Z`).
ZONES = st.sampled_from([UTC]) | st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
AWARE = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=ZONES)


def values(annotation) -> st.SearchStrategy:
    """Valid values of a catalogue field's type."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values(a) for a in args))
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(values(args[0]), values(args[1]), max_size=3)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if annotation is AwareDatetime:
        return AWARE
    return {
        str: st.text(max_size=12),
        int: st.integers(-(2**40), 2**40),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        uuid.UUID: st.uuids(),
        date: st.dates(),
        datetime: AWARE | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    }[annotation]


def field_values(field) -> st.SearchStrategy:
    """`values` of the field's type, or of its pattern where it has one (a card's digest)."""
    pattern = next((m.pattern for m in field.metadata if getattr(m, "pattern", None)), None)
    return st.from_regex(pattern, fullmatch=True) if pattern else values(field.annotation)


def events_of(cls: type[EventData]) -> st.SearchStrategy:
    return st.fixed_dictionaries({name: field_values(f) for name, f in cls.model_fields.items()}).map(
        lambda fields: cls(**fields)
    )


ANY_EVENT = st.sampled_from(ev.EVENT_TYPES).flatmap(events_of)
CORRELATION = st.none() | st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)


def fill(template: str, blanks: dict[str, str], values: dict) -> str:
    """What enrolment's SQL does with a template: each blank becomes `to_jsonb(value)::text`, which
    is orjson's JSON for these values (ids and integers)."""
    for name, value in values.items():
        template = template.replace(blanks[name], orjson.dumps(value).decode())
    return template


def _consumed(topic: str, key: bytes, headers: list[tuple[str, bytes]], body: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic, partition=0, offset=0, timestamp=0, timestamp_type=0, key=key, value=body,
        checksum=None, serialized_key_size=len(key), serialized_value_size=len(body), headers=headers,
    )  # fmt: skip


@EXAMPLES
@given(data=ANY_EVENT, event_id=st.uuids(), at=AWARE, correlation_id=CORRELATION)
def test_every_encoding_of_an_event_is_the_same_record(data, event_id, at, correlation_id):
    envelope = envelop(data, source=SOURCE, event_id=event_id, time=at, correlation_id=correlation_id)
    record = codec.encode(envelope)
    topic, key, headers, body = record

    assert codec.Encoder(SOURCE).data(data, event_id, at, correlation_id) == record
    assert (topic, key, body) == (data.topic, data.partition_key().encode(), orjson.dumps(data.model_dump(mode="json")))
    assert (envelope.topic, envelope.key, envelope.body()) == (topic, key, body)
    assert envelope.headers() == {name: value.decode() for name, value in headers}
    # The unit of work's outbox row, as the relay publishes it.
    event_id_column, topic_column, key_column, header_object, payload = codec.outbox_row(envelope)
    assert (event_id_column, topic_column, key_column, payload) == (event_id, topic, key, body)
    assert codec.wire_headers(orjson.loads(header_object)) == headers
    # The check-in outbox's packed batch.
    assert codec.unpack(codec.pack([record, record])) == [record, record]
    # And back.
    incoming = decode_event(_consumed(topic, key, headers, body))
    assert (incoming.event_id, incoming.type_name, incoming.data) == (event_id, data.type_name, data)
    assert incoming.correlation_id == correlation_id and incoming.time == at


@EXAMPLES
@given(data=st.sampled_from([ev.AttendanceAdjusted, ev.AttendanceRejected]).flatmap(events_of), at=AWARE)
def test_check_in_outbox_events_are_the_codec_records(data, at):
    event_id = uuid.uuid4()
    assert _event(data, event_id, at) == codec.encode(envelop(data, source=SOURCE, event_id=event_id, time=at))


@st.composite
def sessions(draw) -> Session:
    starts_at = draw(AWARE)
    return Session(
        session_id=draw(st.text(max_size=8)), course_id=draw(st.text(max_size=8)), venue_id=draw(st.text(max_size=8)),
        community_id=draw(st.text(max_size=8)), starts_at=starts_at,
        ends_at=starts_at + draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=24))),
        capacity=draw(st.integers(1, 100)),
    )  # fmt: skip


@EXAMPLES
@given(
    session=sessions(),
    resident_id=st.text(min_size=1, max_size=10),
    resident=st.none() | st.builds(ResidentInfo, st.text(max_size=8), st.sampled_from(ev.AudienceGroup), st.booleans()),
    course=st.none()
    | st.builds(CourseInfo, st.text(max_size=8), st.none() | st.sampled_from(ev.ProviderKind), st.booleans()),
    at=AWARE,
    late=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=5)),
    walk_in=st.booleans(),
)
def test_hot_path_attendance_recorded_is_the_codec_record_of_the_model(
    session, resident_id, resident, course, at, late, walk_in
):
    caches = Caches()
    if resident is not None:
        caches.residents[resident_id] = resident
    if course is not None:
        caches.courses[session.course_id] = course
    processor = CheckinProcessor(
        SimpleNamespace(caches=caches), None, grace=timedelta(minutes=10), late_sync=timedelta(minutes=15),
        sweep_every_s=30,
    )  # fmt: skip
    checkin = ev.KioskCheckin(
        checkin_id=uuid.uuid4(), kiosk_id="k1", venue_id="v1", resident_id=resident_id, scanned_at=at
    )
    state = Attendance.start(resident_id, session, checkin.checkin_id, walk_in=walk_in)
    state.apply("in", at)
    now = at + late

    fast = processor._recorded(state, checkin, now)

    data = ev.AttendanceRecorded(
        attendance_id=str(state.attendance_id), checkin_id=checkin.checkin_id, resident_id=resident_id,
        session_id=session.session_id, course_id=session.course_id, venue_id=session.venue_id,
        community_id=session.community_id, resident_community_id=resident and resident.community_id,
        audience_group=resident and resident.audience_group, theme=course and course.theme,
        provider_kind=course and course.provider_kind, minutes=state.minutes, scanned_at=at,
        session_starts_at=session.starts_at, late_sync=late > timedelta(minutes=15), walk_in=walk_in,
    )  # fmt: skip
    event_id = model.recorded_event_id(resident_id, session.session_id)
    assert fast == codec.encode(envelop(data, source=SOURCE, event_id=event_id, time=now))


ENROLMENT = dict(session_id=st.text(max_size=8), course_id=st.text(max_size=8), community_id=st.none() | st.text(),
                 session_starts_at=st.none() | AWARE, at=AWARE)  # fmt: skip


@EXAMPLES
@given(
    waitlisted=st.builds(
        ev.EnrolmentWaitlisted, enrolment_id=st.text(), resident_id=st.text(), position=st.just(1), **ENROLMENT
    ),
    position=st.integers(1, 10_000),
)
def test_waitlisted_template_filled_in_is_the_codec_record(waitlisted, position):
    # What enrolment's place_enrolment statement does with the template, done here in Python.
    envelope = envelop(waitlisted, source="learnstreet/enrolment")
    template = codec.outbox_template(envelope, fields=["position"])
    actual = envelop(
        waitlisted.model_copy(update={"position": position}), source=envelope.source, event_id=envelope.id,
        time=envelope.time,
    )  # fmt: skip
    _, topic, key, headers, payload = codec.outbox_row(actual)
    assert (template.topic, template.key, orjson.loads(template.headers)) == (topic, key, orjson.loads(headers))
    assert fill(template.payload, template.blanks, {"position": position}).encode() == payload


@EXAMPLES
@given(
    template_data=st.builds(ev.EnrolmentPromoted, enrolment_id=st.just("-"), resident_id=st.just("-"), **ENROLMENT),
    promoted=st.lists(st.tuples(st.text(min_size=1), st.text(min_size=1), st.uuids()), min_size=1, max_size=3),
)
def test_promoted_template_filled_in_is_the_codec_record(template_data, promoted):
    # What enrolment's cancel_if_unchanged statement does per promoted enrolment, done here in Python.
    envelope = envelop(template_data, source="learnstreet/enrolment")
    template = codec.outbox_template(envelope, fields=["enrolment_id", "resident_id"], event_id=True)
    for enrolment_id, resident_id, event_id in promoted:
        actual = envelop(
            template_data.model_copy(update={"enrolment_id": enrolment_id, "resident_id": resident_id}),
            source=envelope.source, event_id=event_id, time=envelope.time,
        )  # fmt: skip
        _, topic, key, headers, payload = codec.outbox_row(actual)
        filled_headers = fill(template.headers, template.blanks, {"ce_id": str(event_id)})
        filled_body = fill(
            template.payload, template.blanks, {"enrolment_id": enrolment_id, "resident_id": resident_id}
        )
        assert (template.topic, template.key) == (topic, key)
        assert orjson.loads(filled_headers) == orjson.loads(headers)
        assert filled_body.encode() == payload
