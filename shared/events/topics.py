"""Every Kafka topic of learnstreet, who writes it and who reads it.

This table is the single source for topic provisioning (partitions, retention, compaction),
for the ACLs of each principal (least privilege follows from `producers`/`consumers`) and
for the dead-letter topics (one per consumed topic, written by its consumers).

Retention: each topic's `config` holds its default; `LS_RETENTION_<TOPIC>` (the name upper-cased,
`.` and `-` as `_`: `LS_RETENTION_KIOSK_CHECKINS=3d`) overrides it when provisioning
(`resolve_topic_specs`). A topic a rebuild replays from the beginning (`replayed_by`) keeps its
full history: a finite retention there is refused until snapshots exist (ADR 0010, decision 5).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

# Many streets on one cluster (issue 19, docs/decisions/0021-streets-on-one-cluster.md): LS_STREET_ID
# names the street a deployment serves, and its id prefixes every topic and consumer group of that
# deployment (`nanwan.activities.attendance`, `nanwan.learnstreet.scoring`), so each street's ACLs
# (literal topics, prefixed groups) keep its principals to its own names. Unset: no prefix, the
# names every existing single-street deployment has.
STREET_ID = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


def _street_id(environ: Mapping[str, str]) -> str:
    """LS_STREET_ID as given ('' when unset); ValueError (one line) for an id that cannot name Kafka
    topics and groups."""
    street = (environ.get("LS_STREET_ID") or "").strip()
    if street and not STREET_ID.match(street):
        raise ValueError(
            f"LS_STREET_ID={street!r}: use the street's id in lower-case letters, digits and '-', "
            "3 to 32 characters starting with a letter (e.g. pinghu, nanwan)"
        )
    return street


def street_prefix(environ: Mapping[str, str] = os.environ) -> str:
    """`nanwan.` for LS_STREET_ID=nanwan, `` when unset; ValueError (one line) for an id that cannot
    name Kafka topics and groups, or that is reserved (RESERVED_STREET_IDS: a service's or principal's
    name, or the first segment of an unprefixed street's names)."""
    street = _street_id(environ)
    if street in RESERVED_STREET_IDS:
        raise ValueError(
            f"LS_STREET_ID={street!r} is reserved: it is a service's or principal's name or the first "
            f"segment of a street's names without LS_STREET_ID ({', '.join(sorted(RESERVED_STREET_IDS))}), "
            "so its topics, groups and principals would collide with theirs; use the street's own id "
            "(e.g. pinghu, nanwan)"
        )
    return f"{street}." if street else ""


# Checked for its form here; whether it is reserved once the catalogue below names every topic.
STREET_PREFIX = f"{_street_id(os.environ)}." if _street_id(os.environ) else ""

# Principals. One per service, one shared by all kiosks, one admin (provisioning only).
ACTIVITIES = "activities"
ENROLMENT = "enrolment"
SCORING = "scoring"
NOTIFY = "notify"
KIOSK = "kiosk"
SERVICES = (ACTIVITIES, ENROLMENT, SCORING, NOTIFY)
PRINCIPALS = (*SERVICES, KIOSK)

# The rebuilds that replay topics from the beginning (shared/rebuild.py); a topic they read must
# keep every record, or the rebuilt projection silently lacks what was deleted.
SCORING_REBUILD = "scoring rebuild (python -m services.scoring rebuild)"
PASSPORT_REBUILD = "passport rebuild (python -m services.enrolment rebuild-passports)"
# Each rebuild's checkpoint (ADR 0010): the setting of the interval its service takes one at, and
# the service's default in seconds. A rebuild from its checkpoint replays only what came after it,
# so a replayed topic may keep less than everything, if it keeps CHECKPOINTS_KEPT intervals.
CHECKPOINT_INTERVALS = {
    SCORING_REBUILD: ("SCORING_CHECKPOINT_INTERVAL_SECONDS", 86_400.0),
    PASSPORT_REBUILD: ("ENROLMENT_PASSPORT_CHECKPOINT_INTERVAL_SECONDS", 86_400.0),
}
CHECKPOINTS_KEPT = 3  # two missed checkpoints in a row still leave the history a rebuild needs

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
FOREVER = -1


def retention_config(ms: int) -> dict[str, str]:
    """The topic configs of a retention. A finite one gets segments of a third of it (at most a
    week, Kafka's default): a segment is deleted only once it is closed and its newest record is
    older than the retention, so a record lives at most retention + segment.ms (+ the broker's
    5-minute check), not twice the retention."""
    if ms == FOREVER:
        return {"retention.ms": "-1"}
    return {"retention.ms": str(ms), "segment.ms": str(max(MINUTE_MS // 3, min(7 * DAY_MS, ms // 3)))}


KEEP_FOREVER = retention_config(FOREVER)  # replayable: the rebuilds read these from the beginning
DLQ_RETENTION_MS = 30 * DAY_MS
DLQ_RETENTION = retention_config(DLQ_RETENTION_MS)
# Activities turns a scan into attendance within seconds; the raw scan (a card number at a place
# and time) is kept a week, for a consumer that was down or a group reset (docs/retention.md).
CHECKIN_RETENTION = retention_config(7 * DAY_MS)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    producers: frozenset[str]
    consumers: frozenset[str]
    config: dict[str, str] = field(default_factory=lambda: dict(KEEP_FOREVER))
    description: str = ""
    # the rebuilds that replay this topic from the beginning: its retention must stay forever
    replayed_by: tuple[str, ...] = ()
    # its values are secrets: its dead letters are kept no longer than the topic itself
    secret: bool = False
    # principals that may delete the start of it (Kafka's DeleteRecords), what they have consumed:
    # activities cuts kiosk.checkins after an erasure (services/activities/adapters/kiosk_trim.py)
    cut_by: frozenset[str] = frozenset()

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)

    @property
    def compacted(self) -> bool:
        return self.config.get("cleanup.policy") == "compact"

    @property
    def retention_ms(self) -> int:
        """The retention of a delete-policy topic in ms, FOREVER (-1) when it keeps everything."""
        return int(self.config.get("retention.ms", "-1"))


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def _spec(
    name,
    partitions,
    producers,
    consumers,
    description,
    config=None,
    replayed_by=(),
    secret=False,
    *,
    street=True,
    cut_by=(),
) -> TopicSpec:
    return TopicSpec(
        name=STREET_PREFIX + name if street else name,
        partitions=partitions,
        producers=frozenset(producers),
        consumers=frozenset(consumers),
        config=dict(config or KEEP_FOREVER),
        description=description,
        replayed_by=tuple(replayed_by),
        secret=secret,
        cut_by=frozenset(cut_by),
    )


# The partition counts bound the consumers per group; the hot paths (check-ins, attendance)
# get more so that a district-wide deployment can scale out.
CATALOGUE = _spec(
    "activities.catalogue",
    3,
    {ACTIVITIES},
    {ENROLMENT, SCORING, NOTIFY},
    "Venues, courses and sessions as operators register, change and cancel them.",
    replayed_by=(SCORING_REBUILD,),
)
NEEDS = _spec(
    "activities.needs",
    3,
    {ACTIVITIES},
    {SCORING},
    "Residents' votes for learning topics.",
    replayed_by=(SCORING_REBUILD,),
)
KIOSK_CHECKINS = _spec(
    "kiosk.checkins",
    6,
    {KIOSK, ACTIVITIES},
    {ACTIVITIES},
    "Raw scans from venue kiosks: the public check-in contract (JSON, no envelope).",
    CHECKIN_RETENTION,
    cut_by={ACTIVITIES},
)
ATTENDANCE = _spec(
    "activities.attendance",
    6,
    {ACTIVITIES},
    {SCORING, ENROLMENT},
    "One attendance per resident per session, or a rejected check-in with its reason.",
    replayed_by=(SCORING_REBUILD, PASSPORT_REBUILD),
)
RESIDENTS = _spec(
    "enrolment.residents",
    6,
    {ENROLMENT},
    {ACTIVITIES, SCORING, NOTIFY, ENROLMENT},  # enrolment: its passports read resident.erased
    "Registered residents with non-personal attributes only (no contact data).",
    replayed_by=(SCORING_REBUILD, PASSPORT_REBUILD),
)
CONTACTS = _spec(
    "enrolment.contacts",
    3,
    {ENROLMENT},
    {NOTIFY},
    "Residents' contact data and notification preferences; latest per resident (compacted).",
    # An erasure tombstones the resident's key; the contact it supersedes stays readable until the
    # cleaner passes. Kafka compacts only rolled segments, and rolls a compacted topic's active
    # segment on the first append after max.compaction.lag.ms: a day bounds how long a phone or an
    # e-mail outlives its erasure on a partition that is written to, and enrolment writes to every
    # partition every half day (services/enrolment/adapters/contacts_roll.py; ADR 10).
    # The tombstone itself (its key is the card number) is kept an hour after compaction, not Kafka's
    # day: notify reads it within seconds, and a notify further behind still deletes the contact on
    # resident.erased (enrolment.residents).
    {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "60000",
        "max.compaction.lag.ms": str(DAY_MS),
        "delete.retention.ms": str(HOUR_MS),
    },
)
# Resident cards (docs/decisions/0010-erasure.md, amendment 2026-12-07): the card a resident shows
# at a kiosk, for the one service that must map it to the resident id, so that the card travels
# nowhere else. Keyed by the resident id (enrolment issues it, random, when a card is registered),
# so the tombstone an erasure leaves names no card; compacted and rolled like the contacts.
RESIDENT_CARDS = _spec(
    "enrolment.resident-cards",
    3,
    {ENROLMENT},
    {ACTIVITIES},
    "The card each resident shows at kiosks, for activities alone (personal data; latest per resident, compacted).",
    {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "60000",
        "max.compaction.lag.ms": str(DAY_MS),
        "delete.retention.ms": str(HOUR_MS),
    },
)
# A sign-in code is live for minutes and signs a resident in: kept only long enough for notify to
# send it (a 15-minute window, in 5-minute segments so that deletion can follow), read by notify
# alone, and its dead letters no longer than it (docs/decisions/0017-resident-sign-in.md).
SIGN_IN_RETENTION = retention_config(15 * MINUTE_MS)  # segments of 5 minutes
SIGN_IN_CODES = _spec(
    "enrolment.sign-in-codes",
    3,
    {ENROLMENT},
    {NOTIFY},
    "One-time sign-in codes for residents' phones (secret, short-lived): notify sends each by SMS.",
    SIGN_IN_RETENTION,
    secret=True,
)
ENROLMENTS = _spec(
    "enrolment.enrolments",
    6,
    {ENROLMENT},
    {ACTIVITIES, SCORING, NOTIFY},
    "Enrolments confirmed, waitlisted, promoted and cancelled.",
    replayed_by=(SCORING_REBUILD,),
)
INDEX = _spec(
    "scoring.index",
    3,
    {SCORING},
    {SCORING},  # a district instance of scoring (SCORING_DISTRICT_STREETS, docs/decisions/0022-district-view.md)
    "Learning-index changes per community and for the street; latest per key (compacted); read by the district.",
    {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
)
HONOURS = _spec(
    "scoring.honours",
    3,
    {SCORING},
    {NOTIFY, ENROLMENT},
    "Honours awarded and revoked.",
    replayed_by=(PASSPORT_REBUILD,),
)
ASSESSMENTS = _spec("scoring.assessments", 3, {SCORING}, set(), "Expert assessments with evidence.")
NOTIFICATIONS = _spec(
    "notify.notifications", 3, {NOTIFY}, set(), "Notifications sent to residents, or failed for good."
)

# Erasure (docs/decisions/0010-erasure.md, amendment): each service announces that it has erased a
# resident, with the request id and a row count (no resident: the topic outlives the erasure), so
# that enrolment, which took the request, shows when every service is done. A small topic of its
# own: every service writes it and only enrolment reads it, so no service gains read access to a
# topic of resident events, and the completions do not follow the resident's key.
ERASURES = _spec(
    "privacy.erasures",
    1,
    set(SERVICES),
    {ENROLMENT},
    "Each service's completion of a resident's erasure (request id, rows, time; no resident).",
)

TOPICS: tuple[TopicSpec, ...] = (
    CATALOGUE,
    NEEDS,
    KIOSK_CHECKINS,
    ATTENDANCE,
    RESIDENTS,
    CONTACTS,
    RESIDENT_CARDS,
    SIGN_IN_CODES,
    ENROLMENTS,
    INDEX,
    HONOURS,
    ASSESSMENTS,
    NOTIFICATIONS,
    ERASURES,
)
TOPICS_BY_NAME = {t.name: t for t in TOPICS}


def _first_segment(name: str) -> str:
    return name.removeprefix(STREET_PREFIX).split(".", 1)[0]


def group_id(service: str) -> str:
    """Consumer groups are prefixed by the service, so a rebuild group (`scoring.rebuild-…`)
    is covered by the same prefixed ACL; and by the street (STREET_PREFIX)."""
    return f"{STREET_PREFIX}learnstreet.{service}"


# Street ids that would make a street's names collide with those of a street without LS_STREET_ID on
# the same cluster (`kiosk.<id>` principals, `learnstreet.<service>` groups, `scoring.index`): every
# service and principal, and the first segment of every topic and group name, from the catalogue.
RESERVED_STREET_IDS = frozenset(
    {*PRINCIPALS, *(_first_segment(t.name) for t in TOPICS), *(_first_segment(group_id(s)) for s in SERVICES)}
)
street_prefix()  # refuses a reserved LS_STREET_ID at import, as a malformed one above


def dead_letter_specs() -> tuple[TopicSpec, ...]:
    """One dead-letter topic per consumed topic; its consumers write it, operators read it."""
    return tuple(
        _spec(t.dlq, 1, t.consumers, set(), f"Dead letters of {t.name}.", _dlq_retention(t), street=False)
        for t in TOPICS
        if t.consumers
    )


def _dlq_retention(topic: TopicSpec) -> dict[str, str]:
    # a dead letter keeps the record's value (a card number, a sign-in code): it never outlives
    # the record it copies; 30 days to look at it otherwise
    dlq = DLQ_RETENTION_MS
    return retention_config(topic.retention_ms if _longer(dlq, topic.retention_ms) else dlq)


def all_topic_specs() -> tuple[TopicSpec, ...]:
    return TOPICS + dead_letter_specs()


def topics_written_by(principal: str) -> list[str]:
    return [t.name for t in all_topic_specs() if principal in t.producers]


def topics_read_by(principal: str) -> list[str]:
    return [t.name for t in all_topic_specs() if principal in t.consumers]


def topics_cut_by(principal: str) -> list[str]:
    return [t.name for t in all_topic_specs() if principal in t.cut_by]


# ---------------------------------------------------------------- retention from configuration
RETENTION_PREFIX = "LS_RETENTION_"
# LS_RETENTION_ settings that are not topics: how long the services keep database rows
# (shared/settings.py; tests/unit/shared/test_topic_retention.py keeps this list equal to them).
DATABASE_RETENTION_SETTINGS = frozenset(
    {
        "LS_RETENTION_INBOX_DAYS",
        "LS_RETENTION_CHECKINS_DAYS",
        "LS_RETENTION_NOTIFICATIONS_DAYS",
        "LS_RETENTION_AUDIT_DAYS",
        "LS_RETENTION_INTERVAL_SECONDS",
        "LS_RETENTION_BATCH_ROWS",
    }
)
RETENTION_FORMS = "a whole number of days, hours or minutes (7d, 12h, 30m) or forever"
_UNITS = {"d": DAY_MS, "h": HOUR_MS, "m": MINUTE_MS}
_RETENTION = re.compile(r"([1-9][0-9]{0,5})([dhm])")


class RetentionError(ValueError):
    """A retention setting provisioning refuses; the message is one line naming the variable."""


def retention_variable(topic: str) -> str:
    """`kiosk.checkins` → `LS_RETENTION_KIOSK_CHECKINS` (a street's `nanwan.kiosk.checkins` too: a
    deployment serves one street)."""
    return RETENTION_PREFIX + re.sub(r"[.-]", "_", topic.removeprefix(STREET_PREFIX)).upper()


def parse_retention(value: str) -> int:
    """`7d`, `12h`, `30m` → milliseconds; `forever` → FOREVER (-1). ValueError for anything else."""
    text = value.strip().lower()
    if text == "forever":
        return FOREVER
    m = _RETENTION.fullmatch(text)
    if not m:
        raise ValueError(f"not a retention: {value!r}; use {RETENTION_FORMS}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_retention(ms: int) -> str:
    """The shortest exact form `parse_retention` reads back: 604800000 → `7d`, -1 → `forever`."""
    if ms == FOREVER:
        return "forever"
    for unit, size in _UNITS.items():
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def resolve_topic_specs(environ: Mapping[str, str]) -> tuple[TopicSpec, ...]:
    """Every topic spec with the retention `LS_RETENTION_<TOPIC>` in `environ` gives it (an empty
    value: the default). Raises RetentionError for a variable naming no topic, a value that is no
    retention, a compacted topic, a finite retention on a replayed topic shorter than its rebuilds'
    checkpoints allow (or with checkpoints off), and dead letters of a secret topic kept longer than the topic."""
    specs = all_topic_specs()
    by_variable = {retention_variable(s.name): s for s in specs}
    for key in sorted(environ):
        if key.startswith(RETENTION_PREFIX) and key not in by_variable and key not in DATABASE_RETENTION_SETTINGS:
            # compared without the prefix every name shares, or any name looks close
            suffixes = [v.removeprefix(RETENTION_PREFIX) for v in by_variable]
            close = difflib.get_close_matches(key.removeprefix(RETENTION_PREFIX), suffixes, n=1, cutoff=0.8)
            hint = f" (did you mean {RETENTION_PREFIX}{close[0]}?)" if close else ""
            raise RetentionError(
                f"{key} names no topic{hint}: use LS_RETENTION_<TOPIC>, the topic's name upper-cased with "
                f"'.' and '-' as '_' (e.g. LS_RETENTION_KIOSK_CHECKINS), set to {RETENTION_FORMS}"
            )
    resolved: dict[str, TopicSpec] = {}
    for spec in specs:
        variable = retention_variable(spec.name)
        value = (environ.get(variable) or "").strip()
        source = resolved.get(spec.name.removesuffix(".dlq")) if spec.name.endswith(".dlq") else None
        if not value:
            if source is not None and _longer(spec.retention_ms, source.retention_ms):  # never outlives it
                resolved[spec.name] = _with_retention(spec, source.retention_ms)
            else:
                resolved[spec.name] = spec
            continue
        if spec.compacted:
            raise RetentionError(
                f"{variable}={value}: {spec.name} is compacted (it keeps the latest record per key) and "
                "has no retention; unset the variable"
            )
        try:
            ms = parse_retention(value)
        except ValueError:
            raise RetentionError(f"{variable}={value!r} is not a retention: use {RETENTION_FORMS}") from None
        if ms != FOREVER and spec.replayed_by:
            short = _short_of_checkpoints(spec, ms, environ)
            if short:
                raise RetentionError(
                    f"{variable}={value}: {spec.name} is replayed by the {' and the '.join(spec.replayed_by)}, "
                    f"which start from their checkpoints: {'; '.join(short)} (docs/decisions/0010-erasure.md); "
                    "set forever, unset it, or take checkpoints more often"
                )
        if source is not None and _longer(ms, source.retention_ms):
            raise RetentionError(
                f"{variable}={value}: dead letters of {source.name} copy its records and may not outlive "
                f"them; use at most its retention, {format_retention(source.retention_ms)}"
            )
        resolved[spec.name] = _with_retention(spec, ms)
    return tuple(resolved[s.name] for s in specs)


def _short_of_checkpoints(spec: TopicSpec, ms: int, environ: Mapping[str, str]) -> list[str]:
    """Why a finite retention of `ms` on a replayed topic would lose history a rebuild needs: a
    rebuild that takes no checkpoints, or takes them less often than CHECKPOINTS_KEPT per retention."""
    short = []
    for rebuild in spec.replayed_by:
        setting, default = CHECKPOINT_INTERVALS[rebuild]
        raw = (environ.get(setting) or "").strip()
        try:
            interval_s = float(raw) if raw else default
        except ValueError:
            short.append(f"{setting}={raw!r} is not a number of seconds")
            continue
        if interval_s <= 0:
            short.append(f"the {rebuild.split(' (')[0]} takes no checkpoints ({setting}=0)")
        elif ms < CHECKPOINTS_KEPT * interval_s * 1000:
            needed = format_retention(int(-(-CHECKPOINTS_KEPT * interval_s // 60)) * MINUTE_MS)
            short.append(
                f"the {rebuild.split(' (')[0]} takes one every {interval_s:g} s ({setting}), so keep at least "
                f"{CHECKPOINTS_KEPT} intervals ({needed})"
            )
    return short


def _longer(a: int, b: int) -> bool:
    return b != FOREVER and (a == FOREVER or a > b)


def _with_retention(spec: TopicSpec, ms: int) -> TopicSpec:
    kept = {k: v for k, v in spec.config.items() if k not in ("retention.ms", "segment.ms")}
    return replace(spec, config={**kept, **retention_config(ms)})
