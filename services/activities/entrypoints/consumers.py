"""Which topics the activities service consumes, and what applies each event type: the `HANDLERS`
table, and the check-in projector for the hot path (see shared/bus/dispatch.py)."""

from __future__ import annotations

from services.activities.service_layer import handlers
from services.activities.service_layer.checkins import CheckinProcessor, decode_checkin
from shared.bus.dispatch import Handlers
from shared.bus.tombstones import CardRemoved, decoding_tombstones
from shared.events import catalogue as ev
from shared.events import topics
from shared.runtime import Runtime

HANDLERS: Handlers = {
    ev.ResidentRegistered: handlers.on_resident,
    ev.ResidentUpdated: handlers.on_resident,
    ev.ResidentConsentsChanged: handlers.on_resident_consents,
    ev.ResidentErased: handlers.on_resident_erased,
    ev.EnrolmentConfirmed: handlers.on_enrolment,
    ev.EnrolmentPromoted: handlers.on_enrolment,
    ev.EnrolmentCancelled: handlers.on_enrolment,
    ev.ResidentCardAssigned: handlers.on_card,
    CardRemoved: handlers.on_card_removed,
}


def register(runtime: Runtime, checkins: CheckinProcessor) -> None:
    runtime.consume(
        topics.KIOSK_CHECKINS.name,
        projector=checkins,
        decoder=decode_checkin,
        label="kiosk.checkin",
        description="Kiosk scans (public contract KioskCheckin, JSON, key = resident id) → activities.attendance.",
    )
    runtime.consume(
        topics.RESIDENTS.name,
        handlers=HANDLERS,
        description="Residents (community, audience group, volunteer) for judging check-ins.",
    )
    runtime.consume(
        topics.RESIDENT_CARDS.name,
        handlers=HANDLERS,
        decoder=decoding_tombstones(),
        description="Residents' kiosk cards (personal data): a scan of a card is the resident's.",
    )
    runtime.consume(
        topics.ENROLMENTS.name,
        handlers=HANDLERS,
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
