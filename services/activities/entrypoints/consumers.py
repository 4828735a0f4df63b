"""Which topics the activities service consumes, and the handler of each."""

from __future__ import annotations

from services.activities.service_layer import handlers
from services.activities.service_layer.checkins import CheckinProcessor, decode_checkin
from shared.events import topics
from shared.runtime import Runtime


def register(runtime: Runtime, ctx: handlers.Context, processor: CheckinProcessor) -> None:
    runtime.consume(
        topics.KIOSK_CHECKINS.name,
        handle=processor.handle,
        decoder=decode_checkin,
        description="Kiosk scans (public contract KioskCheckin, JSON, key = resident id) → activities.attendance.",
    )
    runtime.consume(
        topics.RESIDENTS.name,
        handle=handlers.residents_handler(ctx),
        description="Residents (community, audience group, volunteer) for judging check-ins.",
    )
    runtime.consume(
        topics.ENROLMENTS.name,
        handle=handlers.enrolments_handler(ctx),
        description="Confirmed seats per session, for walk-in seats and enrolled-first session choice.",
    )


def document_checkin_schema(broker) -> None:
    """The shared batch consumer documents its body as `list[Any]`; the kiosk contract is public,
    so the subscriber's AsyncAPI entry is given the real KioskCheckin schema (publisher and
    subscriber then show the same payload)."""
    from faststream.kafka.subscriber.specification import KafkaSubscriberSpecification

    from shared.events.catalogue import KioskCheckin

    class CheckinSubscriberSpecification(KafkaSubscriberSpecification):
        __slots__ = ()

        def get_payloads(self):
            schema = KioskCheckin.model_json_schema()
            schema["title"] = "KioskCheckin"
            return [(schema, "KioskCheckin")]

    for subscriber in broker.subscribers:
        if topics.KIOSK_CHECKINS.name in getattr(subscriber, "topic_names", ()):
            subscriber.specification.__class__ = CheckinSubscriberSpecification
