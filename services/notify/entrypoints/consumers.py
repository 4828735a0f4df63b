"""Which events the notify service consumes, and the handler of each.

Each handler only records rows in the batch's transaction (with the inbox); a handler that queues
a message wakes the delivery worker once the batch has committed, so messages go out without
waiting for its next poll."""

from __future__ import annotations

from services.notify.service_layer import handlers
from shared.bus.dispatch import Handlers
from shared.bus.tombstones import ContactRemoved, decoding_tombstones
from shared.catalogue import projection as catalogue
from shared.events import topics
from shared.events.catalogue import (
    CourseCancelled,
    CourseCreated,
    CourseUpdated,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentPromoted,
    EnrolmentWaitlisted,
    HonourAwarded,
    HonourRevoked,
    ResidentContactChanged,
    ResidentErased,
    ResidentRegistered,
    ResidentUpdated,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    SignInCodeIssued,
    VenueRegistered,
)
from shared.runtime import Runtime

HANDLERS: Handlers = {
    # activities.catalogue: the catalogue read model, with the notices a change implies
    **catalogue.HANDLERS,
    VenueRegistered: handlers.on_catalogue_names,
    CourseCreated: handlers.on_catalogue_names,
    CourseUpdated: handlers.on_catalogue_names,
    CourseCancelled: handlers.on_course_cancelled,
    SessionScheduled: handlers.on_session_scheduled,
    SessionChanged: handlers.on_session_scheduled,
    SessionCancelled: handlers.on_session_cancelled,
    # enrolment.residents, enrolment.contacts
    ResidentRegistered: handlers.on_resident,
    ResidentUpdated: handlers.on_resident,
    ResidentContactChanged: handlers.on_contact_changed,
    ContactRemoved: handlers.on_contact_removed,
    ResidentErased: handlers.on_resident_erased,
    # enrolment.enrolments
    EnrolmentConfirmed: handlers.on_enrolment_confirmed,
    EnrolmentWaitlisted: handlers.on_enrolment_waitlisted,
    EnrolmentPromoted: handlers.on_enrolment_promoted,
    EnrolmentCancelled: handlers.on_enrolment_cancelled,
    # enrolment.sign-in-codes
    SignInCodeIssued: handlers.on_sign_in_code,
    # scoring.honours
    HonourAwarded: handlers.on_honour_awarded,
    HonourRevoked: handlers.on_honour_revoked,
}

TOPICS = {
    topics.CATALOGUE.name: "Venues, courses and sessions: names, titles, times, changes and cancellations.",
    topics.RESIDENTS.name: "Residents' language (until their contact says otherwise).",
    topics.CONTACTS.name: "Residents' contact data, channel, consent, opt-outs and quiet hours (personal data).",
    topics.ENROLMENTS.name: "Enrolments: confirmation, waitlist, promotion and cancellation notices, reminders.",
    topics.HONOURS.name: "Honours awarded to residents, and revoked.",
    topics.SIGN_IN_CODES.name: "Residents' one-time sign-in codes, sent at once by SMS (secret, minutes-lived).",
}


def register(runtime: Runtime) -> None:
    # One consumer for all five topics: one group member joins (one rebalance) instead of five, so
    # the service is ready in seconds after a restart; notify's volume fits one batch loop.
    runtime.consume(
        *TOPICS,
        handlers=HANDLERS,
        decoder=decoding_tombstones(),
        description=" ".join(f"{topic}: {description}" for topic, description in TOPICS.items()),
    )
