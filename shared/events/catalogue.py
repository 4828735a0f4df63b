"""The catalogue of every learnstreet event.

Each event has a versioned type name (`learnstreet.<domain>.<subject>.<action>.v1`), the topic
it travels on, the field used as its Kafka key, and a one-line comment saying when it is
emitted. Related events share a topic (per-key order across them); consumers dispatch on the
`ce_type` header. Resident contact data appears only in `enrolment.contacts`, which only the
notify service may read.

The kiosk check-in is not an enveloped event: it is the public contract kiosks write to
`kiosk.checkins` (see `KioskCheckin` and the README).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from . import topics
from .envelope import EventData


class AudienceGroup(StrEnum):
    INFANT = "infant"  # 0-3
    CHILD = "child"
    ADOLESCENT = "adolescent"
    ADULT = "adult"
    ELDERLY = "elderly"  # 60+
    SPECIAL = "special"  # special groups: disabled, new arrivals, ...


class VenueType(StrEnum):
    PARTY_MASS_SERVICE_CENTRE = "party_mass_service_centre"
    LIBRARY = "library"
    ELDERLY_UNIVERSITY = "elderly_university"
    COMMUNITY_SCHOOL = "community_school"
    THEME_EDUCATION_BASE = "theme_education_base"
    ENTERPRISE_SITE = "enterprise_site"


class ProviderKind(StrEnum):
    SCHOOL_TEACHER = "school_teacher"
    TRAINING_LECTURER = "training_lecturer"
    DOCTOR = "doctor"
    COUNSELLOR = "counsellor"
    INDUSTRY_LEADER = "industry_leader"
    VOLUNTEER = "volunteer"


Language = Literal["zh-CN", "en"]


# --- activities.catalogue ---------------------------------------------------------------


class VenueRegistered(EventData):
    """Emitted when an operator registers a venue (learning position) or changes it."""

    type_name: ClassVar[str] = "learnstreet.activities.venue.registered.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "venue_id"

    venue_id: str
    community_id: str
    name_zh: str
    name_en: str
    venue_type: VenueType
    capacity: int
    kiosk_ids: list[str] = Field(default_factory=list)


class VenueClosed(EventData):
    """Emitted when an operator (or the venue community's worker) closes a venue from `closed_on`
    (a day in Asia/Shanghai): from that day it takes no sessions and check-ins, and leaves the
    index's venue and seat denominators."""

    type_name: ClassVar[str] = "learnstreet.activities.venue.closed.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "venue_id"

    venue_id: str
    community_id: str
    closed_on: date
    reason: str = ""


class VenueReopened(EventData):
    """Emitted when a closed venue reopens from `reopened_on`; it counts in the denominators again."""

    type_name: ClassVar[str] = "learnstreet.activities.venue.reopened.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "venue_id"

    venue_id: str
    community_id: str
    reopened_on: date


class CourseCreated(EventData):
    """Emitted when an operator creates a course."""

    type_name: ClassVar[str] = "learnstreet.activities.course.created.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "course_id"

    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[AudienceGroup] = Field(default_factory=list)
    provider_id: str | None = None
    provider_kind: ProviderKind | None = None
    brand: str | None = None
    community_id: str | None = None


class CourseUpdated(CourseCreated):
    """Emitted when an operator changes a course's title, theme, audiences, provider or brand."""

    type_name: ClassVar[str] = "learnstreet.activities.course.updated.v1"


class CourseCancelled(EventData):
    """Emitted when an operator cancels a course (its sessions are cancelled with it)."""

    type_name: ClassVar[str] = "learnstreet.activities.course.cancelled.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "course_id"

    course_id: str
    reason: str = ""


class SessionScheduled(EventData):
    """Emitted when an operator schedules a session of a course at a venue."""

    type_name: ClassVar[str] = "learnstreet.activities.session.scheduled.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "course_id"

    session_id: str
    course_id: str
    venue_id: str
    community_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int
    elderly_priority_until: AwareDatetime | None = None


class SessionChanged(SessionScheduled):
    """Emitted when a session's time, venue or capacity changes."""

    type_name: ClassVar[str] = "learnstreet.activities.session.changed.v1"


class SessionCancelled(EventData):
    """Emitted when a session is cancelled (alone or with its course)."""

    type_name: ClassVar[str] = "learnstreet.activities.session.cancelled.v1"
    topic: ClassVar[str] = topics.CATALOGUE.name
    key_field: ClassVar[str] = "course_id"

    session_id: str
    course_id: str
    starts_at: AwareDatetime | None = None
    reason: str = ""


# --- activities.needs ---------------------------------------------------------------------


class NeedVotedV1(EventData):
    """Published until 2026-12: a resident's vote with their card number and their free text, which
    scoring (its one consumer) never used. Still read, for the history on activities.needs that the
    scoring rebuild replays; no longer emitted (NeedVoted)."""

    type_name: ClassVar[str] = "learnstreet.activities.need.voted.v1"
    topic: ClassVar[str] = topics.NEEDS.name
    key_field: ClassVar[str] = "community_id"

    vote_id: str
    resident_id: str
    community_id: str
    theme: str
    topic_text: str = ""


class NeedVoted(EventData):
    """Emitted when a resident votes for a learning topic ("residents order the menu"). Names
    neither the resident nor what they wrote (ADR 10): the index counts votes per community and
    theme; the vote, its resident and its text stay in activities. `vote_id` is random, so it cannot
    be recomputed from a card number."""

    type_name: ClassVar[str] = "learnstreet.activities.need.voted.v2"
    topic: ClassVar[str] = topics.NEEDS.name
    key_field: ClassVar[str] = "community_id"

    vote_id: str
    community_id: str
    theme: str


class SessionRated(EventData):
    """Emitted when a resident who attended a session rates it (满意度, 1..5), once per resident and
    session. Carries neither the resident nor their comment: the index counts ratings, not people."""

    type_name: ClassVar[str] = "learnstreet.activities.session.rated.v1"
    topic: ClassVar[str] = topics.NEEDS.name
    key_field: ClassVar[str] = "community_id"

    rating_id: str  # derived from (resident, session): one per pair
    session_id: str
    course_id: str
    community_id: str  # the session's (its venue's) community
    theme: str | None = None
    score: Literal[1, 2, 3, 4, 5]
    session_starts_at: AwareDatetime


# --- kiosk.checkins (public contract, no envelope) ------------------------------------------


RFC3339_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class KioskCheckin(BaseModel):
    """One scan at a venue kiosk, as kiosks write it to `kiosk.checkins` (JSON body).

    Kafka key: the resident id (UTF-8). `checkin_id` is made by the kiosk and is the same on
    every retry of one scan, so retries are recognised as duplicates.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=128)

    checkin_id: uuid.UUID
    kiosk_id: str = Field(min_length=1)
    venue_id: str = Field(min_length=1)
    resident_id: str = Field(min_length=1)
    session_id: str | None = None
    scanned_at: AwareDatetime
    direction: Literal["in", "out"] = "in"

    @field_validator("scanned_at", mode="before")
    @classmethod
    def _rfc3339_with_offset(cls, value: object) -> object:
        # pydantic alone also takes a number (or a string of digits) as Unix time; the contract says
        # RFC 3339 with an offset, and a kiosk sending seconds where it meant a local clock reading
        # would be credited to the wrong day.
        if isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not RFC3339_WITH_OFFSET.match(value):
            raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T19:05:00+08:00")
        return value


# --- activities.attendance ------------------------------------------------------------------


class AttendanceRecorded(EventData):
    """Emitted once per resident per session, when a valid check-in is accepted (late ones too)."""

    type_name: ClassVar[str] = "learnstreet.activities.attendance.recorded.v1"
    topic: ClassVar[str] = topics.ATTENDANCE.name
    key_field: ClassVar[str] = "resident_id"

    attendance_id: str
    checkin_id: uuid.UUID
    resident_id: str
    session_id: str
    course_id: str
    venue_id: str
    community_id: str  # the venue's community
    resident_community_id: str | None = None
    audience_group: AudienceGroup | None = None
    theme: str | None = None
    provider_kind: ProviderKind | None = None
    minutes: int
    scanned_at: AwareDatetime
    session_starts_at: AwareDatetime | None = None
    late_sync: bool = False
    walk_in: bool = False


class AttendanceAdjusted(EventData):
    """Emitted when a check-out (or a late check-in) changes the minutes of a recorded attendance."""

    type_name: ClassVar[str] = "learnstreet.activities.attendance.adjusted.v1"
    topic: ClassVar[str] = topics.ATTENDANCE.name
    key_field: ClassVar[str] = "resident_id"

    attendance_id: str
    resident_id: str
    session_id: str
    community_id: str
    minutes: int  # the new total, not a delta


class AttendanceRejected(EventData):
    """Emitted when a well-formed check-in cannot count as attendance, with a reason code."""

    type_name: ClassVar[str] = "learnstreet.activities.attendance.rejected.v1"
    topic: ClassVar[str] = topics.ATTENDANCE.name
    key_field: ClassVar[str] = "resident_id"

    checkin_id: uuid.UUID
    kiosk_id: str
    venue_id: str
    resident_id: str
    session_id: str | None = None
    scanned_at: AwareDatetime
    reason: str  # e.g. unknown_kiosk, kiosk_not_at_venue, unknown_resident, no_session_in_window
    detail: str = ""


# --- enrolment.residents / enrolment.contacts ---------------------------------------------


class ResidentRegistered(EventData):
    """Emitted when a resident registers; carries no contact data."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.registered.v1"
    topic: ClassVar[str] = topics.RESIDENTS.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    community_id: str
    audience_group: AudienceGroup
    family_id: str | None = None
    employer_id: str | None = None
    volunteer: bool = False
    language: Language = "zh-CN"


class ResidentUpdated(ResidentRegistered):
    """Emitted when a resident's community, group, family, employer or volunteer flag changes."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.updated.v1"


class ResidentContactChanged(EventData):
    """Emitted when a resident's contact data or notification preferences are set or changed.

    Personal data: only the notify service may read this topic."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.contact_changed.v1"
    topic: ClassVar[str] = topics.CONTACTS.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    phone: str | None = None
    email: str | None = None
    language: Language = "zh-CN"
    preferred_channel: Literal["sms", "email"] = "sms"
    consent: bool = False
    opted_out_categories: list[str] = Field(default_factory=list)  # enrolment, session_updates, reminders, honours
    # The resident's own quiet hours as local "HH:MM" (both or neither; equal = none); default: the street's.
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None


class ResidentCardAssigned(EventData):
    """Emitted when a resident is registered with a card, or their card is replaced: the card's
    keyed digest (shared/kiosk_cards.py), for activities to map a kiosk's scan to the resident id.
    No event carries a card number.

    Personal data (a pseudonym of the card): only the activities service may read this topic."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.card_assigned.v1"
    topic: ClassVar[str] = topics.RESIDENT_CARDS.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    card_digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class ResidentConsentsChanged(EventData):
    """Emitted when a resident agrees to or withdraws a purpose of the street's privacy notice (and
    at registration when they agreed to any): the purposes they agree to now. Activities takes
    survey answers and session ratings only from residents agreeing to `surveys`."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.consents_changed.v1"
    topic: ClassVar[str] = topics.RESIDENTS.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    purposes: list[Literal["learning_record", "notifications", "surveys"]] = Field(max_length=3)
    notice_version: str = Field(max_length=64)


class ResidentErased(EventData):
    """Emitted when an operator's approved erasure request has removed the resident from
    enrolment: every service erases or pseudonymises its rows about the resident (ADR 10)."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.erased.v1"
    topic: ClassVar[str] = topics.RESIDENTS.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    request_id: uuid.UUID


# --- privacy.erasures ---------------------------------------------------------------------------


class ErasureCompleted(EventData):
    """A service has erased a resident (its rows deleted or pseudonymised, its receipt written):
    published through its outbox in the erasure's transaction. Names no resident: only the
    request, which enrolment's erasure log ties to who asked and why."""

    topic: ClassVar[str] = topics.ERASURES.name
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID
    service: Literal["activities", "enrolment", "scoring", "notify"]
    rows: int  # rows deleted or pseudonymised in the service's database
    completed_at: AwareDatetime


class ActivitiesErasureCompleted(ErasureCompleted):
    """Emitted when activities has handled resident.erased (registry copy and parked scans gone,
    scans, attendance, seats, votes and answers pseudonymised)."""

    type_name: ClassVar[str] = "learnstreet.activities.resident.erasure_completed.v1"


class EnrolmentErasureCompleted(ErasureCompleted):
    """Emitted when enrolment has erased a resident on an approved request, in the same
    transaction as resident.erased."""

    type_name: ClassVar[str] = "learnstreet.enrolment.resident.erasure_completed.v1"


class ScoringErasureCompleted(ErasureCompleted):
    """Emitted when scoring has handled resident.erased (every row pseudonymised)."""

    type_name: ClassVar[str] = "learnstreet.scoring.resident.erasure_completed.v1"


class NotifyErasureCompleted(ErasureCompleted):
    """Emitted when notify has handled resident.erased (contacts, messages, enrolments gone)."""

    type_name: ClassVar[str] = "learnstreet.notify.resident.erasure_completed.v1"


ERASURE_COMPLETED: dict[str, type[ErasureCompleted]] = {
    "activities": ActivitiesErasureCompleted,
    "enrolment": EnrolmentErasureCompleted,
    "scoring": ScoringErasureCompleted,
    "notify": NotifyErasureCompleted,
}


# --- enrolment.sign-in-codes ------------------------------------------------------------------


class SignInCodeIssued(EventData):
    """Emitted when a registered resident asks to sign in: notify sends the code at once by SMS
    to the resident's registered phone (never named here: notify holds the contacts).

    Secret: the code signs the resident in until `expires_at`; only notify may read this topic,
    kept 15 minutes (docs/decisions/0017-resident-sign-in.md)."""

    type_name: ClassVar[str] = "learnstreet.enrolment.sign_in.code_issued.v1"
    topic: ClassVar[str] = topics.SIGN_IN_CODES.name
    key_field: ClassVar[str] = "resident_id"

    resident_id: str
    request_id: uuid.UUID
    code: str  # six digits
    expires_at: AwareDatetime


# --- enrolment.enrolments -------------------------------------------------------------------


class _EnrolmentEvent(EventData):
    topic: ClassVar[str] = topics.ENROLMENTS.name
    key_field: ClassVar[str] = "session_id"

    enrolment_id: str
    session_id: str
    course_id: str
    resident_id: str
    community_id: str | None = None
    session_starts_at: AwareDatetime | None = None
    at: datetime


class EnrolmentConfirmed(_EnrolmentEvent):
    """Emitted when a resident gets a seat at enrolment."""

    type_name: ClassVar[str] = "learnstreet.enrolment.enrolment.confirmed.v1"


class EnrolmentWaitlisted(_EnrolmentEvent):
    """Emitted when a resident enrols in a full session and joins its waitlist."""

    type_name: ClassVar[str] = "learnstreet.enrolment.enrolment.waitlisted.v1"
    position: int


class EnrolmentPromoted(_EnrolmentEvent):
    """Emitted when a waitlisted resident gets a freed seat (same transaction as the cancellation)."""

    type_name: ClassVar[str] = "learnstreet.enrolment.enrolment.promoted.v1"


class EnrolmentCancelled(_EnrolmentEvent):
    """Emitted when a resident (or an operator, or a session cancellation) cancels an enrolment."""

    type_name: ClassVar[str] = "learnstreet.enrolment.enrolment.cancelled.v1"
    was_confirmed: bool = True
    reason: str = ""


# --- scoring ----------------------------------------------------------------------------------


class IndexUpdated(EventData):
    """Emitted when a community's (or the street's) learning index changes; at most once per
    community per second."""

    type_name: ClassVar[str] = "learnstreet.scoring.index.updated.v1"
    topic: ClassVar[str] = topics.INDEX.name
    key_field: ClassVar[str] = "community_id"

    community_id: str  # "street" for the whole street
    total: float
    aspects: dict[str, float]
    computed_at: datetime


class HonourAwarded(EventData):
    """Emitted once per honour, recipient and period when it is awarded: at the end of its notice
    period with no objection open, or when its rule is met where a street's selection is automatic."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.awarded.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    kind: str  # learning_star, learning_family, book_fragrant_enterprise, excellent_volunteer, ...
    period: str
    recipient_kind: Literal["resident", "family", "employer"]
    recipient_id: str
    resident_ids: list[str] = Field(default_factory=list)  # residents to notify
    community_id: str | None = None
    reason: str = ""
    place: int | None = None  # a competition place's rank


class HonourNominated(EventData):
    """Emitted when a rule (or an operator's competition result) nominates a candidate for an honour
    (提名); the selection that follows decides whether it is awarded (HonourAwarded)."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.nominated.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    kind: str
    period: str
    recipient_kind: Literal["resident", "family", "employer"]
    recipient_id: str
    resident_ids: list[str] = Field(default_factory=list)
    community_id: str | None = None
    reason: str = ""
    place: int | None = None  # a competition place's rank
    actor: str  # "rules", or the operator who recorded a competition result
    actor_role: str
    at: datetime


class HonourReviewed(EventData):
    """Emitted when a candidate is approved by its community workstation (level community), or
    rejected with a reason by the workstation or the street (level street)."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.reviewed.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    level: Literal["community", "street"]
    decision: Literal["approved", "rejected"]
    reason: str = ""
    community_id: str | None = None
    actor: str
    actor_role: str
    at: datetime


class HonourApproved(EventData):
    """Emitted when the street approves a candidate within its quota: the public notice period
    (公示) runs from `notice_starts_at` to `notice_ends_at`."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.approved.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    kind: str
    period: str
    community_id: str | None = None
    quota: int  # places of this kind for the community and period
    places_taken: int  # including this one
    notice_starts_at: datetime
    notice_ends_at: datetime
    actor: str
    actor_role: str
    at: datetime


class HonourObjectionLodged(EventData):
    """Emitted when someone signed in objects, with a reason, to a candidate during its notice period."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.objection_lodged.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    objection_id: str
    reason: str
    actor: str  # who objected: a resident or a staff member
    actor_role: str
    at: datetime


class HonourObjectionResolved(EventData):
    """Emitted when an operator resolves an objection: upheld withdraws the candidate, dismissed
    lets its notice period go on (`honour_state` is the candidate's state after it)."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.objection_resolved.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    objection_id: str
    outcome: Literal["upheld", "dismissed"]
    reason: str
    honour_state: str
    actor: str
    actor_role: str
    at: datetime


class HonourRevoked(EventData):
    """Emitted when an operator revokes an honour, with the reason."""

    type_name: ClassVar[str] = "learnstreet.scoring.honour.revoked.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "honour_id"

    honour_id: str
    reason: str


class OrganisationRegistered(EventData):
    """Emitted when an operator, or a community worker for its community, registers an organisation or
    unit with its community (a Party organisation, an enterprise, another unit, a social organisation):
    the recipients of the organisation honours."""

    type_name: ClassVar[str] = "learnstreet.scoring.organisation.registered.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "organisation_id"

    organisation_id: str
    kind: str  # party_organisation, enterprise, unit, social_organisation
    community_id: str
    name_zh: str
    name_en: str
    actor: str
    actor_role: str
    at: datetime


class CompetitionSetUp(EventData):
    """Emitted when the street sets up a knowledge competition: its rounds, and how many places
    (ranks) of a round are honoured."""

    type_name: ClassVar[str] = "learnstreet.scoring.competition.set_up.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "competition_id"

    competition_id: str
    name_zh: str
    name_en: str
    rounds: int
    places: int
    actor: str
    actor_role: str
    at: datetime


class VolunteerServiceRecorded(EventData):
    """Emitted when volunteer service hours (at a venue or a session) are recorded, by an operator or
    by the volunteer; they count only once a coordinator confirms them."""

    type_name: ClassVar[str] = "learnstreet.scoring.volunteer.service_recorded.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "service_id"

    service_id: str
    volunteer_id: str  # the volunteer's resident id
    venue_id: str | None = None
    session_id: str | None = None
    community_id: str
    day: str  # YYYY-MM-DD in the street's calendar
    hours: float
    what: str
    actor: str
    actor_role: str
    at: datetime


class VolunteerServiceConfirmed(EventData):
    """Emitted when a coordinator (an operator, or a community worker of the service's community)
    confirms recorded service: from then on its hours count."""

    type_name: ClassVar[str] = "learnstreet.scoring.volunteer.service_confirmed.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "service_id"

    service_id: str
    volunteer_id: str
    community_id: str
    day: str  # YYYY-MM-DD
    hours: float
    actor: str
    actor_role: str
    at: datetime


class VolunteerServiceRejected(EventData):
    """Emitted when a coordinator rejects recorded service, with the reason: its hours never count."""

    type_name: ClassVar[str] = "learnstreet.scoring.volunteer.service_rejected.v1"
    topic: ClassVar[str] = topics.HONOURS.name
    key_field: ClassVar[str] = "service_id"

    service_id: str
    volunteer_id: str
    community_id: str
    reason: str
    actor: str
    actor_role: str
    at: datetime


class AssessmentRecorded(EventData):
    """Emitted when an assessor records an expert score with evidence for an indicator."""

    type_name: ClassVar[str] = "learnstreet.scoring.assessment.recorded.v1"
    topic: ClassVar[str] = topics.ASSESSMENTS.name
    key_field: ClassVar[str] = "community_id"

    assessment_id: str
    indicator_id: str
    community_id: str
    score: float
    evidence_text: str = ""
    evidence_url: str | None = None
    assessor: str
    # 自评 (the street's or a community's own, by an operator or community worker) or 专家评估 (an
    # assessor's); events from before the split were expert scores.
    kind: Literal["self", "expert"] = "expert"
    actor_role: str | None = None


class RectificationTaskOpened(EventData):
    """Emitted when an operator turns an item of a rectification list (整改清单: an indicator of a
    community or the street below its pass line) into a task with an owner and a deadline."""

    type_name: ClassVar[str] = "learnstreet.scoring.rectification.task_opened.v1"
    topic: ClassVar[str] = topics.ASSESSMENTS.name
    key_field: ClassVar[str] = "task_id"

    task_id: str
    community_id: str  # a community, or "street"
    indicator_id: str
    owner_kind: Literal["department", "community"]
    owner: str  # a street department's name, or a community workstation's community id
    deadline: str  # the last day (YYYY-MM-DD) in the street's calendar
    status: str
    actor: str
    actor_role: str
    at: datetime


class RectificationTaskChanged(EventData):
    """Emitted at every later change of a rectification task: a status step (`status`: started,
    done, verified, reopened with a reason), a new owner or deadline (`assigned`), or a comment
    (`commented`). Carries the task's state after the change."""

    type_name: ClassVar[str] = "learnstreet.scoring.rectification.task_changed.v1"
    topic: ClassVar[str] = topics.ASSESSMENTS.name
    key_field: ClassVar[str] = "task_id"

    task_id: str
    community_id: str
    indicator_id: str
    change: Literal["status", "assigned", "commented"]
    status: str
    previous_status: str | None = None
    owner_kind: Literal["department", "community"]
    owner: str
    deadline: str  # YYYY-MM-DD
    reason: str = ""
    comment: str = ""
    actor: str
    actor_role: str
    at: datetime


class EvidenceUploaded(EventData):
    """Emitted when a file is uploaded as evidence (佐证材料) for an indicator of a community or the
    street. Metadata only: the bytes stay in scoring's database, downloadable by `evidence_id`."""

    type_name: ClassVar[str] = "learnstreet.scoring.evidence.uploaded.v1"
    topic: ClassVar[str] = topics.ASSESSMENTS.name
    key_field: ClassVar[str] = "evidence_id"

    evidence_id: str
    indicator_id: str
    community_id: str  # a community, or "street"
    rectification_task_id: str | None = None
    assessment_id: str | None = None
    filename: str
    content_type: str  # from the file's magic bytes
    size: int
    sha256: str  # hex digest of the bytes
    actor: str
    actor_role: str
    at: datetime


class EvidenceRemoved(EventData):
    """Emitted when an operator removes an evidence file (soft: the record stays, downloads stop)."""

    type_name: ClassVar[str] = "learnstreet.scoring.evidence.removed.v1"
    topic: ClassVar[str] = topics.ASSESSMENTS.name
    key_field: ClassVar[str] = "evidence_id"

    evidence_id: str
    indicator_id: str
    community_id: str
    sha256: str
    reason: str = ""
    actor: str
    actor_role: str
    at: datetime


# --- notify -----------------------------------------------------------------------------------


class NotificationSent(EventData):
    """Emitted when a channel accepted a notification for a resident. v2 names no resident (v1
    carried the card number and an idempotency key made of it, and was keyed by it): no service
    reads these events, and an operator finds the message, its resident included, in notify by its
    id (`GET /v1/notifications/{id}`); ADR 10."""

    type_name: ClassVar[str] = "learnstreet.notify.notification.sent.v2"
    topic: ClassVar[str] = topics.NOTIFICATIONS.name
    key_field: ClassVar[str] = "notification_id"

    notification_id: str
    kind: str
    channel: Literal["sms", "email"]
    attempts: int
    triggered_at: datetime | None = None


class NotificationFailed(NotificationSent):
    """Emitted when a notification failed for good (permanent error or retries exhausted)."""

    type_name: ClassVar[str] = "learnstreet.notify.notification.failed.v2"
    reason: str = ""


EVENT_TYPES: tuple[type[EventData], ...] = (
    VenueRegistered, VenueClosed, VenueReopened, CourseCreated, CourseUpdated, CourseCancelled,
    SessionScheduled, SessionChanged, SessionCancelled,
    NeedVotedV1, NeedVoted, SessionRated, AttendanceRecorded, AttendanceAdjusted, AttendanceRejected,
    ResidentRegistered, ResidentUpdated, ResidentContactChanged, ResidentCardAssigned, ResidentConsentsChanged,
    ResidentErased,
    SignInCodeIssued,
    EnrolmentConfirmed, EnrolmentWaitlisted, EnrolmentPromoted, EnrolmentCancelled,
    IndexUpdated, HonourAwarded, HonourRevoked, AssessmentRecorded,
    HonourNominated, HonourReviewed, HonourApproved, HonourObjectionLodged, HonourObjectionResolved,
    RectificationTaskOpened, RectificationTaskChanged, EvidenceUploaded, EvidenceRemoved,
    OrganisationRegistered, CompetitionSetUp, VolunteerServiceRecorded, VolunteerServiceConfirmed,
    VolunteerServiceRejected,
    NotificationSent, NotificationFailed,
    ActivitiesErasureCompleted, EnrolmentErasureCompleted, ScoringErasureCompleted, NotifyErasureCompleted,
)  # fmt: skip

BY_TYPE_NAME: dict[str, type[EventData]] = {cls.type_name: cls for cls in EVENT_TYPES}


def event_class(type_name: str) -> type[EventData]:
    try:
        return BY_TYPE_NAME[type_name]
    except KeyError:
        raise UnknownEventType(type_name) from None


class UnknownEventType(ValueError):
    def __init__(self, type_name: str) -> None:
        super().__init__(f"unknown event type {type_name!r}")
        self.type_name = type_name
