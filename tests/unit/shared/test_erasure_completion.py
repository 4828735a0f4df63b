"""Erasure completion in one place (ADR 10, amendment; issue 17): every service announces that it
has erased a resident with an event on privacy.erasures, which enrolment alone reads; the event
names the request, never the resident."""

from __future__ import annotations

from shared.events import catalogue, personal_data, topics

SERVICES = ("activities", "enrolment", "scoring", "notify")


def test_every_service_has_an_erasure_completed_event_on_the_erasures_topic():
    for service in SERVICES:
        cls = catalogue.event_class(f"learnstreet.{service}.resident.erasure_completed.v1")
        assert cls.topic == topics.ERASURES.name
        assert cls.key_field == "request_id"
        assert (cls.__doc__ or "").startswith("Emitted when"), cls


def test_the_completion_names_the_request_and_never_the_resident():
    for service in SERVICES:
        cls = catalogue.event_class(f"learnstreet.{service}.resident.erasure_completed.v1")
        assert set(cls.model_fields) == {"request_id", "service", "rows", "completed_at"}
        assert not personal_data.carries_resident(cls.type_name)


def test_every_service_writes_the_erasures_topic_and_only_enrolment_reads_it():
    spec = topics.TOPICS_BY_NAME[topics.ERASURES.name]
    assert spec.producers == frozenset(SERVICES)
    assert spec.consumers == frozenset({"enrolment"})
    for service in SERVICES:
        assert topics.ERASURES.name in topics.topics_written_by(service)
    assert [s for s in SERVICES if topics.ERASURES.name in topics.topics_read_by(s)] == ["enrolment"]
