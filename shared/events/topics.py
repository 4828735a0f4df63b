"""Every Kafka topic of learnstreet, who writes it and who reads it.

This table is the single source for topic provisioning (partitions, retention, compaction),
for the ACLs of each principal (least privilege follows from `producers`/`consumers`) and
for the dead-letter topics (one per consumed topic, written by its consumers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Principals. One per service, one shared by all kiosks, one admin (provisioning only).
ACTIVITIES = "activities"
ENROLMENT = "enrolment"
SCORING = "scoring"
NOTIFY = "notify"
KIOSK = "kiosk"
SERVICES = (ACTIVITIES, ENROLMENT, SCORING, NOTIFY)
PRINCIPALS = (*SERVICES, KIOSK)

KEEP_FOREVER = {"retention.ms": "-1"}  # replayable: scoring rebuilds from the beginning
DLQ_RETENTION = {"retention.ms": str(30 * 24 * 3600 * 1000)}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    producers: frozenset[str]
    consumers: frozenset[str]
    config: dict[str, str] = field(default_factory=lambda: dict(KEEP_FOREVER))
    description: str = ""

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def _spec(name, partitions, producers, consumers, description, config=None) -> TopicSpec:
    return TopicSpec(
        name=name,
        partitions=partitions,
        producers=frozenset(producers),
        consumers=frozenset(consumers),
        config=dict(config or KEEP_FOREVER),
        description=description,
    )


# The partition counts bound the consumers per group; the hot paths (check-ins, attendance)
# get more so that a district-wide deployment can scale out.
CATALOGUE = _spec(
    "activities.catalogue",
    3,
    {ACTIVITIES},
    {ENROLMENT, SCORING, NOTIFY},
    "Venues, courses and sessions as operators register, change and cancel them.",
)
NEEDS = _spec("activities.needs", 3, {ACTIVITIES}, {SCORING}, "Residents' votes for learning topics.")
KIOSK_CHECKINS = _spec(
    "kiosk.checkins",
    6,
    {KIOSK, ACTIVITIES},
    {ACTIVITIES},
    "Raw scans from venue kiosks: the public check-in contract (JSON, no envelope).",
)
ATTENDANCE = _spec(
    "activities.attendance",
    6,
    {ACTIVITIES},
    {SCORING, ENROLMENT},
    "One attendance per resident per session, or a rejected check-in with its reason.",
)
RESIDENTS = _spec(
    "enrolment.residents",
    6,
    {ENROLMENT},
    {ACTIVITIES, SCORING, NOTIFY, ENROLMENT},  # enrolment: its passports read resident.erased
    "Registered residents with non-personal attributes only (no contact data).",
)
CONTACTS = _spec(
    "enrolment.contacts",
    3,
    {ENROLMENT},
    {NOTIFY},
    "Residents' contact data and notification preferences; latest per resident (compacted).",
    {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
)
# A sign-in code is live for minutes and signs a resident in: kept only long enough for notify to
# send it (a 15-minute window, in 5-minute segments so that deletion can follow), read by notify
# alone, and its dead letters no longer than it (docs/decisions/0017-resident-sign-in.md).
SIGN_IN_RETENTION = {"retention.ms": str(15 * 60 * 1000), "segment.ms": str(5 * 60 * 1000)}
SIGN_IN_CODES = _spec(
    "enrolment.sign-in-codes",
    3,
    {ENROLMENT},
    {NOTIFY},
    "One-time sign-in codes for residents' phones (secret, short-lived): notify sends each by SMS.",
    SIGN_IN_RETENTION,
)
ENROLMENTS = _spec(
    "enrolment.enrolments",
    6,
    {ENROLMENT},
    {ACTIVITIES, SCORING, NOTIFY},
    "Enrolments confirmed, waitlisted, promoted and cancelled.",
)
INDEX = _spec(
    "scoring.index",
    3,
    {SCORING},
    set(),
    "Learning-index changes per community and for the street; latest per key (compacted).",
    {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
)
HONOURS = _spec("scoring.honours", 3, {SCORING}, {NOTIFY, ENROLMENT}, "Honours awarded and revoked.")
ASSESSMENTS = _spec("scoring.assessments", 3, {SCORING}, set(), "Expert assessments with evidence.")
NOTIFICATIONS = _spec(
    "notify.notifications", 3, {NOTIFY}, set(), "Notifications sent to residents, or failed for good."
)

TOPICS: tuple[TopicSpec, ...] = (
    CATALOGUE,
    NEEDS,
    KIOSK_CHECKINS,
    ATTENDANCE,
    RESIDENTS,
    CONTACTS,
    SIGN_IN_CODES,
    ENROLMENTS,
    INDEX,
    HONOURS,
    ASSESSMENTS,
    NOTIFICATIONS,
)
TOPICS_BY_NAME = {t.name: t for t in TOPICS}


def dead_letter_specs() -> tuple[TopicSpec, ...]:
    """One dead-letter topic per consumed topic; its consumers write it, operators read it."""
    return tuple(
        _spec(t.dlq, 1, t.consumers, set(), f"Dead letters of {t.name}.", _dlq_retention(t))
        for t in TOPICS
        if t.consumers
    )


def _dlq_retention(topic: TopicSpec) -> dict[str, str]:
    # a dead letter keeps the record's value: a secret topic's must not outlive the topic's own
    return dict(SIGN_IN_RETENTION) if topic.config == SIGN_IN_RETENTION else DLQ_RETENTION


def all_topic_specs() -> tuple[TopicSpec, ...]:
    return TOPICS + dead_letter_specs()


def group_id(service: str) -> str:
    """Consumer groups are prefixed by the service, so a rebuild group (`scoring.rebuild-…`)
    is covered by the same prefixed ACL."""
    return f"learnstreet.{service}"


def topics_written_by(principal: str) -> list[str]:
    return [t.name for t in all_topic_specs() if principal in t.producers]


def topics_read_by(principal: str) -> list[str]:
    return [t.name for t in all_topic_specs() if principal in t.consumers]
