"""What a chaos run sends and when it breaks things: pure, seeded, no I/O.

A run generates its own street (ids prefixed by the run id, so runs and concurrent tests never
collide), the kiosk check-ins with the requested share of duplicates, late (offline kiosk) and
malformed records, and a schedule of faults spread over the load.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

VALID, DUPLICATE, LATE, MALFORMED = "valid", "duplicate", "late", "malformed"
AIOKAFKA, KCAT = "aiokafka", "kcat"

# Sessions span the whole run so that every scan (and the late ones, scanned earlier while the
# kiosk was offline) falls inside its session's window.
SESSION_STARTS_BEFORE = timedelta(hours=2)
SESSION_LENGTH = timedelta(hours=5)
LATE_SCAN_AGE = timedelta(minutes=75)
ENROL_SESSIONS_START_IN = timedelta(hours=6)


@dataclass(frozen=True)
class Venue:
    venue_id: str
    community_id: str
    kiosk_ids: tuple[str, ...]


@dataclass(frozen=True)
class Session:
    session_id: str
    course_id: str
    venue: Venue
    starts_at: datetime
    ends_at: datetime
    capacity: int


@dataclass(frozen=True)
class Resident:
    resident_id: str
    community_id: str
    audience_group: str


@dataclass(frozen=True)
class Street:
    run_id: str
    course_id: str
    venues: tuple[Venue, ...]
    sessions: tuple[Session, ...]  # for check-ins
    enrol_sessions: tuple[Session, ...]  # small capacity, for the enrolment/cancellation traffic
    residents: tuple[Resident, ...]
    theme: str = "safety"


@dataclass(frozen=True)
class Checkin:
    """One record to send. `pair` is (resident, session) for a valid scan, None for a malformed one."""

    seq: int
    kind: str
    client: str
    key: bytes | None
    value: bytes | None
    pair: tuple[str, str] | None
    checkin_id: str | None
    reason: str | None = None  # the dead-letter reason a malformed record must get
    origin: int | None = None  # for a duplicate: the seq of the record it repeats


@dataclass(frozen=True)
class Fault:
    kind: str  # sigkill, sigterm, kafka_restart, pg_terminate, pause
    target: str  # a service, "kafka" or "postgresql"
    at_s: float  # seconds after the load started


@dataclass
class Plan:
    street: Street
    checkins: list[Checkin]
    late: list[Checkin]  # sent at the end of the load: the offline kiosk comes back
    faults: list[Fault]
    counts: dict[str, int] = field(default_factory=dict)


COMMUNITIES = (
    "bainikeng", "fenghuang", "huaerdun", "liangan", "pinghu", "shanxia",
    "shuangyong", "tiantou", "pingdi", "xinmu", "fuan", "shangmugu",
)  # fmt: skip
GROUPS = ("adult", "elderly", "adolescent", "child", "adult", "elderly")


def make_street(
    run_id: str, n_pairs: int, *, now: datetime, communities: tuple[str, ...] = COMMUNITIES, theme: str = "safety"
) -> Street:
    """Enough residents x sessions for `n_pairs` distinct (resident, session) check-ins."""
    n_sessions = max(4, min(60, math.ceil(n_pairs / 200)))
    n_residents = max(10, math.ceil(n_pairs / n_sessions))
    venues = tuple(
        Venue(f"{run_id}-v{i:02d}", c, (f"{run_id}-k{i:02d}a", f"{run_id}-k{i:02d}b"))
        for i, c in enumerate(communities)
    )
    course_id = f"{run_id}-course"
    starts = now - SESSION_STARTS_BEFORE

    def session(i: int, prefix: str, capacity: int, start: datetime) -> Session:
        v = venues[i % len(venues)]
        return Session(f"{run_id}-{prefix}{i:03d}", course_id, v, start, start + SESSION_LENGTH, capacity)

    sessions = tuple(session(i, "s", n_residents + 10, starts) for i in range(n_sessions))
    # open for enrolment during the whole run: they start later
    enrol_sessions = tuple(session(i, "e", 3, now + ENROL_SESSIONS_START_IN) for i in range(4))
    residents = tuple(
        Resident(f"{run_id}-r{i:05d}", communities[i % len(communities)], GROUPS[i % len(GROUPS)])
        for i in range(n_residents)
    )
    return Street(run_id, course_id, venues, sessions, enrol_sessions, residents, theme)


def _scan(street_session: Session, resident: Resident, rng: random.Random, scanned_at: datetime) -> dict:
    return {
        # Seeded, but unique per run (the session id carries the run id): the platform rightly
        # treats a check-in id it has already seen as a kiosk retry, so runs must not share them.
        "checkin_id": str(uuid.uuid5(uuid.UUID(int=rng.getrandbits(128), version=4), street_session.session_id)),
        "kiosk_id": rng.choice(street_session.venue.kiosk_ids),
        "venue_id": street_session.venue.venue_id,
        "resident_id": resident.resident_id,
        "session_id": street_session.session_id,
        "scanned_at": scanned_at.isoformat(),
        "direction": "in",
    }


def malformed_record(i: int, rng: random.Random, base: dict) -> tuple[bytes | None, str]:
    """A record the decoder must dead-letter, and the reason code it must give."""
    variants = [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (orjson.dumps({**base, "checkin_id": "not-a-uuid"}), "invalid_checkin"),
        (orjson.dumps({k: v for k, v in base.items() if k != "resident_id"}), "invalid_checkin"),
        (orjson.dumps({**base, "scanned_at": "2026-01-01T09:00:00"}), "invalid_checkin"),  # no time zone
        (orjson.dumps({**base, "unexpected": 1}), "invalid_checkin"),
        (orjson.dumps([base]), "invalid_checkin"),
        (orjson.dumps({**base, "direction": "sideways"}), "invalid_checkin"),
        (orjson.dumps({**base, "kiosk_id": ""}), "invalid_checkin"),
        (None, "empty_body"),
    ]
    if i % 500 == 7:  # over the decoder's MAX_RECORD_BYTES, under the broker's limit
        return orjson.dumps({**base, "pad": "x" * (300 * 1024)}), "too_large"
    return variants[rng.randrange(len(variants))]


def make_plan(
    run_id: str,
    n_checkins: int,
    *,
    seed: int,
    now: datetime | None = None,
    duplicate_share: float = 0.05,
    late_share: float = 0.02,
    malformed_share: float = 0.01,
    kcat_share: float = 0.5,
    faults: list[Fault] | None = None,
    communities: tuple[str, ...] = COMMUNITIES,
    theme: str = "safety",
) -> Plan:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    n_dup = round(n_checkins * duplicate_share)
    n_late = round(n_checkins * late_share)
    n_bad = max(1, round(n_checkins * malformed_share))
    n_valid = n_checkins - n_dup - n_bad  # the late ones are valid, distinct pairs too
    street = make_street(run_id, n_valid, now=now, communities=communities, theme=theme)
    pairs = [(r, s) for s in street.sessions for r in street.residents]
    rng.shuffle(pairs)
    pairs = pairs[:n_valid]
    seq = 0

    def client() -> str:
        return KCAT if rng.random() < kcat_share else AIOKAFKA

    on_time: list[Checkin] = []
    late: list[Checkin] = []
    for i, (resident, session) in enumerate(pairs):
        is_late = i < n_late
        scanned = now - LATE_SCAN_AGE if is_late else now
        body = _scan(session, resident, rng, scanned + timedelta(milliseconds=rng.randrange(60_000)))
        c = Checkin(
            seq, LATE if is_late else VALID, client(), resident.resident_id.encode(), orjson.dumps(body),
            (resident.resident_id, session.session_id), body["checkin_id"],
        )  # fmt: skip
        (late if is_late else on_time).append(c)
        seq += 1
    for _ in range(n_dup):  # a kiosk retrying a scan: same bytes, same checkin_id, either client
        origin = rng.choice(on_time)
        on_time.append(
            Checkin(
                seq, DUPLICATE, client(), origin.key, origin.value, origin.pair, origin.checkin_id, origin=origin.seq
            )
        )
        seq += 1
    base = orjson.loads(on_time[0].value) if on_time else {}
    for i in range(n_bad):  # malformed ones go through aiokafka: their offsets identify them
        value, reason = malformed_record(i, rng, base)
        on_time.append(Checkin(seq, MALFORMED, AIOKAFKA, b"chaos-malformed", value, None, None, reason=reason))
        seq += 1
    rng.shuffle(on_time)
    # a duplicate must not be sent before what it repeats would have been: keeps "retry" honest
    position = {c.seq: i for i, c in enumerate(on_time)}
    for i, c in enumerate(on_time):
        if c.origin is not None and position[c.origin] > i:
            j = position[c.origin]
            on_time[i], on_time[j] = on_time[j], on_time[i]
            position[c.seq], position[c.origin] = j, i
    counts = {VALID: n_valid - n_late, LATE: n_late, DUPLICATE: n_dup, MALFORMED: n_bad}
    return Plan(street, on_time, late, faults or [], counts)


def fault_schedule(
    *,
    seed: int,
    load_s: float,
    services: tuple[str, ...],
    kills_per_service: int = 3,
    sigterms_per_service: int = 1,
    kafka_restarts: int = 1,
    pg_terminations: int = 1,
    pauses: int = 1,
    pause_target: str = "activities",
) -> list[Fault]:
    """Every fault at a random moment of the load; executed in time order, one at a time."""
    rng = random.Random(seed + 1)
    kinds: list[tuple[str, str]] = []
    for s in services:
        kinds += [("sigkill", s)] * kills_per_service + [("sigterm", s)] * sigterms_per_service
    kinds += [("kafka_restart", "kafka")] * kafka_restarts + [("pg_terminate", "postgresql")] * pg_terminations
    kinds += [("pause", pause_target)] * pauses
    times = sorted(rng.uniform(0.03, 0.9) * load_s for _ in kinds)
    rng.shuffle(kinds)
    return [Fault(kind, target, t) for (kind, target), t in zip(kinds, times, strict=True)]
