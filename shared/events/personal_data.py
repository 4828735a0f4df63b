"""Which field of which event, and which column of which table, carries personal information.

The classification lives here rather than in the catalogue's field metadata: metadata would change
every `.v1` schema snapshot (they are JSON Schemas, and `json_schema_extra` lands in them) for no
consumer's benefit. `shared/events/inventory.py` renders this module, the topics' readers and the
services' migrations into docs/privacy/data-inventory.md; tests/unit/shared/test_inventory.py
fails when a field or column that looks personal is not classified here, when an entry names a
field that no longer exists, or when the document is stale.

A field is classified once per event type. Fields not listed in an event that carries a resident
identifier are still personal by linkage (they describe that resident's learning); the inventory
says so per event (`LINKED`).
"""

from __future__ import annotations

import re
from enum import StrEnum


class Category(StrEnum):
    RESIDENT_ID = "resident_id"  # the resident's id: random when enrolment issued it, else the card number
    CARD_NUMBER = "card_number"  # the card a resident shows at kiosks: identifies them directly
    CONTACT = "contact"  # phone number, e-mail address
    RELATIONSHIP = "relationship"  # family and employer links
    PROFILE = "profile"  # audience (age) group, volunteer flag, language
    RESIDENCE = "residence"  # the community a resident lives in
    LOCATION_TIME = "location_time"  # where and when a resident was: kiosk, venue, scan time
    PREFERENCES = "preferences"  # consent, channels, opted-out categories, quiet hours
    FREE_TEXT = "free_text"  # text a resident or operator wrote about a resident
    STAFF_ID = "staff_id"  # an operator's or assessor's identity
    MESSAGE = "message"  # the text of a message sent to a resident


DESCRIPTIONS: dict[Category, str] = {
    Category.RESIDENT_ID: "resident identifier: random when enrolment issued it (residents registered with a card), "
    "else the card number the resident registered with, which identifies the person directly",
    Category.CARD_NUMBER: "the card the resident shows at kiosks (an identity or library card), or its keyed digest",
    Category.CONTACT: "phone number or e-mail address",
    Category.RELATIONSHIP: "family or employer the resident belongs to",
    Category.PROFILE: "audience (age) group, volunteer flag, language",
    Category.RESIDENCE: "community the resident lives in",
    Category.LOCATION_TIME: "where and when the resident was (kiosk, venue, scan time)",
    Category.PREFERENCES: "consent and notification preferences",
    Category.FREE_TEXT: "free text written by or about the resident",
    Category.STAFF_ID: "identity of an operator or assessor",
    Category.MESSAGE: "text of a message sent to the resident, or where it was sent",
}

_C = Category

# event type name → field → category. The kiosk contract is named as its schema snapshot is.
FIELDS: dict[str, dict[str, Category]] = {
    "learnstreet.activities.need.voted.v1": {"resident_id": _C.RESIDENT_ID, "topic_text": _C.FREE_TEXT},
    "learnstreet.kiosk.checkin.v1": {
        "resident_id": _C.RESIDENT_ID,
        "kiosk_id": _C.LOCATION_TIME,
        "venue_id": _C.LOCATION_TIME,
        "scanned_at": _C.LOCATION_TIME,
    },
    "learnstreet.activities.attendance.recorded.v1": {
        "resident_id": _C.RESIDENT_ID,
        "resident_community_id": _C.RESIDENCE,
        "audience_group": _C.PROFILE,
        "venue_id": _C.LOCATION_TIME,
        "scanned_at": _C.LOCATION_TIME,
    },
    "learnstreet.activities.attendance.adjusted.v1": {"resident_id": _C.RESIDENT_ID},
    "learnstreet.activities.attendance.rejected.v1": {
        "resident_id": _C.RESIDENT_ID,
        "kiosk_id": _C.LOCATION_TIME,
        "venue_id": _C.LOCATION_TIME,
        "scanned_at": _C.LOCATION_TIME,
    },
    **{
        f"learnstreet.enrolment.resident.{action}.v1": {
            "resident_id": _C.RESIDENT_ID,
            "community_id": _C.RESIDENCE,
            "audience_group": _C.PROFILE,
            "family_id": _C.RELATIONSHIP,
            "employer_id": _C.RELATIONSHIP,
            "volunteer": _C.PROFILE,
            "language": _C.PROFILE,
        }
        for action in ("registered", "updated")
    },
    "learnstreet.enrolment.resident.erased.v1": {"resident_id": _C.RESIDENT_ID},
    "learnstreet.enrolment.resident.card_assigned.v1": {"resident_id": _C.RESIDENT_ID, "card_digest": _C.CARD_NUMBER},
    # the live sign-in code is the text of the SMS the resident asked for
    "learnstreet.enrolment.sign_in.code_issued.v1": {"resident_id": _C.RESIDENT_ID, "code": _C.MESSAGE},
    "learnstreet.enrolment.resident.contact_changed.v1": {
        "resident_id": _C.RESIDENT_ID,
        "phone": _C.CONTACT,
        "email": _C.CONTACT,
        "language": _C.PROFILE,
        "preferred_channel": _C.PREFERENCES,
        "consent": _C.PREFERENCES,
        "opted_out_categories": _C.PREFERENCES,
        "quiet_hours_start": _C.PREFERENCES,
        "quiet_hours_end": _C.PREFERENCES,
    },
    **{
        f"learnstreet.enrolment.enrolment.{action}.v1": {"resident_id": _C.RESIDENT_ID}
        for action in ("confirmed", "waitlisted", "promoted", "cancelled")
    },
    "learnstreet.enrolment.resident.consents_changed.v1": {
        "resident_id": _C.RESIDENT_ID,
        "purposes": _C.PREFERENCES,
    },
    "learnstreet.scoring.honour.awarded.v1": {
        # a resident's card number, or a family's or employer's id (recipient_kind says which)
        "recipient_id": _C.RESIDENT_ID,
        "resident_ids": _C.RESIDENT_ID,
    },
    "learnstreet.scoring.assessment.recorded.v1": {"assessor": _C.STAFF_ID},
    "learnstreet.scoring.honour.nominated.v1": {
        "recipient_id": _C.RESIDENT_ID,
        "resident_ids": _C.RESIDENT_ID,
        "actor": _C.STAFF_ID,  # "rules", or the operator who recorded a competition result
    },
    "learnstreet.scoring.honour.reviewed.v1": {"actor": _C.STAFF_ID},
    "learnstreet.scoring.honour.approved.v1": {"actor": _C.STAFF_ID},
    # anyone signed in may object: the actor may be a resident
    "learnstreet.scoring.honour.objection_lodged.v1": {"actor": _C.RESIDENT_ID, "reason": _C.FREE_TEXT},
    "learnstreet.scoring.honour.objection_resolved.v1": {"actor": _C.STAFF_ID},
    # staff only: operators open and assign, community workers and assessors move and comment
    "learnstreet.scoring.rectification.task_opened.v1": {"actor": _C.STAFF_ID},
    "learnstreet.scoring.rectification.task_changed.v1": {"actor": _C.STAFF_ID, "comment": _C.FREE_TEXT},
    # staff only; a file's name may name a person (a photo of a class, a family's application)
    "learnstreet.scoring.evidence.uploaded.v1": {"actor": _C.STAFF_ID, "filename": _C.FREE_TEXT},
    "learnstreet.scoring.evidence.removed.v1": {"actor": _C.STAFF_ID, "reason": _C.FREE_TEXT},
    # organisations and competitions are registered and set up by staff
    "learnstreet.scoring.organisation.registered.v1": {"actor": _C.STAFF_ID},
    "learnstreet.scoring.competition.set_up.v1": {"actor": _C.STAFF_ID},
    # a volunteer's service: recorded by an operator or by the volunteer (a resident) themself
    "learnstreet.scoring.volunteer.service_recorded.v1": {
        "volunteer_id": _C.RESIDENT_ID,
        "actor": _C.RESIDENT_ID,
        "what": _C.FREE_TEXT,
    },
    "learnstreet.scoring.volunteer.service_confirmed.v1": {"volunteer_id": _C.RESIDENT_ID, "actor": _C.STAFF_ID},
    "learnstreet.scoring.volunteer.service_rejected.v1": {
        "volunteer_id": _C.RESIDENT_ID,
        "actor": _C.STAFF_ID,
        "reason": _C.FREE_TEXT,
    },
}

# Fields whose names look personal but are not, with the reason (the guard asks for a decision).
NOT_PERSONAL: dict[tuple[str, str], str] = {
    ("learnstreet.scoring.honour.awarded.v1", "recipient_kind"): "resident, family or employer: a kind, not a person",
    ("learnstreet.scoring.honour.nominated.v1", "recipient_kind"): "resident, family or employer: a kind, not a person",
    **{
        (f"learnstreet.scoring.honour.{step}.v1", "actor_role"): "the role a selection step was taken in"
        for step in ("nominated", "reviewed", "approved", "objection_lodged", "objection_resolved")
    },
    **{
        (f"learnstreet.scoring.rectification.{step}.v1", "actor_role"): "the role a task's change was made in"
        for step in ("task_opened", "task_changed")
    },
    ("learnstreet.scoring.assessment.recorded.v1", "actor_role"): "the role an assessment was recorded in",
    **{
        (f"learnstreet.scoring.evidence.{step}.v1", "actor_role"): "the role evidence was uploaded or removed in"
        for step in ("uploaded", "removed")
    },
    ("learnstreet.scoring.organisation.registered.v1", "actor_role"): "the role an organisation was registered in",
    ("learnstreet.scoring.competition.set_up.v1", "actor_role"): "the role a competition was set up in",
    **{
        (f"learnstreet.scoring.volunteer.{step}.v1", "actor_role"): "the role service was recorded or decided in"
        for step in ("service_recorded", "service_confirmed", "service_rejected")
    },
}

# What the other fields of an event carrying a resident identifier say about that resident.
LINKED: dict[str, str] = {
    "learnstreet.activities.need.voted.v1": "the learning topic the resident asked for",
    "learnstreet.kiosk.checkin.v1": "a scan of the resident at a venue",
    "learnstreet.activities.attendance.recorded.v1": "which session the resident attended, for how long",
    "learnstreet.activities.attendance.adjusted.v1": "minutes the resident stayed",
    "learnstreet.activities.attendance.rejected.v1": "a refused scan of the resident and why",
    "learnstreet.enrolment.resident.registered.v1": "the resident's registry entry",
    "learnstreet.enrolment.resident.updated.v1": "the resident's registry entry",
    "learnstreet.enrolment.resident.contact_changed.v1": "how to reach the resident",
    "learnstreet.enrolment.resident.card_assigned.v1": "the card the resident shows at kiosks",
    "learnstreet.enrolment.resident.consents_changed.v1": "what the resident agreed to process",
    "learnstreet.enrolment.resident.erased.v1": "that the resident asked to be erased",
    "learnstreet.enrolment.sign_in.code_issued.v1": "that the resident asked to sign in, and when",
    "learnstreet.enrolment.enrolment.confirmed.v1": "a session the resident enrolled in",
    "learnstreet.enrolment.enrolment.waitlisted.v1": "a session the resident waits for",
    "learnstreet.enrolment.enrolment.promoted.v1": "a session the resident got a seat in",
    "learnstreet.enrolment.enrolment.cancelled.v1": "a session the resident no longer attends",
    "learnstreet.scoring.honour.awarded.v1": "an honour of the resident, family or employer",
    "learnstreet.scoring.assessment.recorded.v1": "who assessed an indicator",
    "learnstreet.scoring.honour.nominated.v1": "a candidacy of the resident, family or employer for an honour",
    "learnstreet.scoring.honour.objection_lodged.v1": "an objection the resident lodged against a candidate",
    "learnstreet.scoring.volunteer.service_recorded.v1": "where and when the resident served as a volunteer, and what",
    "learnstreet.scoring.volunteer.service_confirmed.v1": "that the resident's volunteer service counts",
    "learnstreet.scoring.volunteer.service_rejected.v1": "that the resident's volunteer service was refused, and why",
}

# Database columns, by name, in every service (the same name means the same thing everywhere).
COLUMNS: dict[str, Category] = {
    "resident_id": _C.RESIDENT_ID,
    "card_number": _C.CARD_NUMBER,  # enrolment's registry
    "card_digest": _C.CARD_NUMBER,  # activities' kiosk map: the card's keyed digest (shared/kiosk_cards.py)
    "consent_purpose": _C.PREFERENCES,  # consent decisions (enrolment) and their copy (activities)
    "purposes": _C.PREFERENCES,
    "granted": _C.PREFERENCES,
    "resident_ids": _C.RESIDENT_ID,
    "recipient_id": _C.RESIDENT_ID,
    "phone": _C.CONTACT,
    "phone_hash": _C.CONTACT,  # sign-in: a keyed hash of a phone number, still that phone's
    "email": _C.CONTACT,
    "address_hint": _C.MESSAGE,
    "rendered_subject": _C.MESSAGE,
    "rendered_body": _C.MESSAGE,
    "family_id": _C.RELATIONSHIP,
    "employer_id": _C.RELATIONSHIP,
    "home_community_id": _C.RESIDENCE,
    "audience_group": _C.PROFILE,
    "volunteer": _C.PROFILE,
    "language": _C.PROFILE,
    "consent": _C.PREFERENCES,
    "opted_out": _C.PREFERENCES,
    "opted_out_categories": _C.PREFERENCES,
    "preferred_channel": _C.PREFERENCES,
    "quiet_hours_start": _C.PREFERENCES,
    "quiet_hours_end": _C.PREFERENCES,
    "topic_text": _C.FREE_TEXT,
    "scanned_at": _C.LOCATION_TIME,
    "first_in_at": _C.LOCATION_TIME,
    "last_out_at": _C.LOCATION_TIME,
    "assessor": _C.STAFF_ID,
    "adjusted_by": _C.STAFF_ID,
    "replayed_by": _C.STAFF_ID,
    "actor": _C.STAFF_ID,
    # a selection step's or an objection's author: staff, or a resident who objected (公示异议)
    "acted_by": _C.RESIDENT_ID,
    "lodged_by": _C.RESIDENT_ID,
    "resolved_by": _C.STAFF_ID,
    "requested_by": _C.STAFF_ID,  # erasure requests: the two operators
    "approved_by": _C.STAFF_ID,
    "purpose": _C.FREE_TEXT,
    # evidence files: staff upload and remove them; a file's name may name a person
    "uploaded_by": _C.STAFF_ID,
    "removed_by": _C.STAFF_ID,
    "filename": _C.FREE_TEXT,
    # volunteer service hours: the volunteer, who recorded them (an operator or the volunteer), who decided
    "volunteer_id": _C.RESIDENT_ID,
    "recorded_by": _C.RESIDENT_ID,
    "decided_by": _C.STAFF_ID,
    "registered_by": _C.STAFF_ID,  # organisations
    "created_by": _C.STAFF_ID,  # competitions, broadcasts
    "set_by": _C.STAFF_ID,  # the operator who set a venue's deadline for unsigned check-ins
    # surveys and session satisfaction (activities): what a resident answered or wrote
    "answers": _C.FREE_TEXT,
    "comment": _C.FREE_TEXT,
}
# Columns whose names look personal and are not.
NOT_PERSONAL_COLUMNS: dict[str, str] = {
    "without_contact": "how many targeted residents had no contact: a count, not a contact",
    "recipient_kind": "resident, family or employer: a kind, not a person",
    "actor_role": "the role an access was made in",
    "contact_deadline": "until when a message may still be sent: a time, not a contact",
    # scoring and enrolment keep it to refuse late attendance of an erased card (ADR 10, amendment)
    "card_hash": "an erased card's keyed hash (HMAC, key outside the database): tells nothing without the "
    "services' key, and the resident it stood for is erased",
}

# Tables holding whole event bodies (personal fields inside), kept only until published or replayed.
PAYLOAD_TABLES: dict[str, str] = {
    "outbox": "events until Kafka acknowledged them (seconds)",
    "checkin_outbox": "check-in batches' events until Kafka acknowledged them (seconds)",
    "dead_letter_quarantine": "dead letters Kafka refused, until an operator replays them",
    "pending_checkins": "parked check-ins until their resident or session is known (grace period)",
    "notifications": "parameters of each message (course titles, times) next to its text",
}

# Names that look personal: a field or column matching this must be classified or declared not
# personal. Wide on purpose; a false match costs one NOT_PERSONAL line.
LOOKS_PERSONAL = re.compile(
    r"resident|phone|e?mail|card|family|employer|recipient|address|birth|gender|person|"
    r"(^|_)name$|id_number|passport|contact|consent|quiet_hours|assessor|actor|_by$|purpose|opted_out"
)


def looks_personal(name: str) -> bool:
    return LOOKS_PERSONAL.search(name) is not None


def category_of_field(type_name: str, field: str) -> Category | None:
    return FIELDS.get(type_name, {}).get(field)


def carries_resident(type_name: str) -> bool:
    return any(c is Category.RESIDENT_ID for c in FIELDS.get(type_name, {}).values())
