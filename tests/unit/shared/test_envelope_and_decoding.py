"""The envelope's wire form and the decoder's dead-letter reasons, without Kafka."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.structs import ConsumerRecord

from shared.bus.decoding import MAX_RECORD_BYTES, DeadLetter, decode_event
from shared.events import catalogue, topics
from shared.events.envelope import envelop


def _record(value: bytes | None, headers: list[tuple[str, bytes]], topic: str = "activities.catalogue"):
    return ConsumerRecord(
        topic=topic, partition=0, offset=7, timestamp=0, timestamp_type=0, key=b"k", value=value,
        checksum=None, serialized_key_size=1, serialized_value_size=len(value or b""), headers=headers,
    )  # fmt: skip


def _course() -> catalogue.CourseCreated:
    return catalogue.CourseCreated(course_id="c1", title_zh="书法", title_en="Calligraphy", theme="arts")


def test_envelope_round_trips_through_headers_and_body():
    envelope = envelop(_course(), source="tests", correlation_id="corr-1")
    record = _record(envelope.body(), [(k, v.encode()) for k, v in envelope.headers().items()])
    incoming = decode_event(record)
    assert incoming.event_id == envelope.id
    assert incoming.type_name == "learnstreet.activities.course.created.v1"
    assert incoming.data == envelope.data
    assert incoming.correlation_id == "corr-1"
    assert envelope.key == b"c1"  # the key field's value, so one course's events stay in order
    assert envelope.topic == "activities.catalogue"


@pytest.mark.parametrize(
    ("value", "headers", "code"),
    [
        (b"{}", [("ce_id", str(uuid.uuid4()).encode())], "missing_header"),
        (b"{}", [("ce_type", catalogue.CourseCreated.type_name.encode()), ("ce_id", b"nope")], "missing_header"),
        (b"{}", [("ce_type", b"learnstreet.x.y.z.v9"), ("ce_id", str(uuid.uuid4()).encode())], "unknown_type"),
        (
            b"{not json",
            [("ce_type", catalogue.CourseCreated.type_name.encode()), ("ce_id", str(uuid.uuid4()).encode())],
            "invalid_json",
        ),
        (
            b'{"course_id": 1}',
            [("ce_type", catalogue.CourseCreated.type_name.encode()), ("ce_id", str(uuid.uuid4()).encode())],
            "invalid_event",
        ),
        (
            None,
            [("ce_type", catalogue.CourseCreated.type_name.encode()), ("ce_id", str(uuid.uuid4()).encode())],
            "empty_body",
        ),
        (
            b" " * (MAX_RECORD_BYTES + 1),
            [("ce_type", catalogue.CourseCreated.type_name.encode()), ("ce_id", str(uuid.uuid4()).encode())],
            "too_large",
        ),
    ],
)
def test_bad_records_become_dead_letters_with_a_reason(value, headers, code):
    with pytest.raises(DeadLetter) as caught:
        decode_event(_record(value, headers))
    assert caught.value.code == code
    assert caught.value.detail


def test_non_utf8_header_bytes_do_not_crash_the_decoder():
    with pytest.raises(DeadLetter) as caught:
        decode_event(_record(b"{}", [("ce_type", b"\xff\xfe"), ("ce_id", str(uuid.uuid4()).encode())]))
    assert caught.value.code == "unknown_type"


def test_every_event_names_a_catalogued_topic_and_a_versioned_type():
    for cls in catalogue.EVENT_TYPES:
        assert cls.topic in topics.TOPICS_BY_NAME, cls
        parts = cls.type_name.split(".")
        assert parts[0] == "learnstreet" and parts[-1].startswith("v") and len(parts) == 5, cls.type_name
        assert cls.__doc__ and "mitted" in cls.__doc__, f"{cls.__name__} needs a 'when emitted' comment"


def test_contact_data_travels_only_on_the_contacts_topic():
    personal = {"phone", "email"}
    for cls in catalogue.EVENT_TYPES:
        if personal & set(cls.model_fields):
            assert cls.topic == topics.CONTACTS.name, cls
    assert topics.CONTACTS.consumers == {topics.NOTIFY}


def test_each_consumed_topic_has_a_dead_letter_topic_written_by_its_consumers():
    dlqs = {t.name: t for t in topics.dead_letter_specs()}
    for spec in topics.TOPICS:
        if spec.consumers:
            assert dlqs[spec.dlq].producers == spec.consumers
