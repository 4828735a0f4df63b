"""What a chaos run sends and when it breaks things: pure, seeded, no I/O.

A run generates its own street (ids prefixed by the run id, so runs and concurrent tests never
collide), the kiosk check-ins with the requested share of duplicates, late (offline kiosk) and
malformed records, and a schedule of faults spread over the load.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import orjson

VALID, DUPLICATE, LATE, MALFORMED = "valid", "duplicate", "late", "malformed"
# Scans the merge paths fold: another scan (its own checkin_id) of a pair already scanned; a
# check-out, sent after or before the check-in it closes; a walk-in into a session with fewer
# seats than the residents who scan there.
RESCAN, CHECKOUT, CONTESTED = "rescan", "checkout", "contested"
AIOKAFKA, KCAT = "aiokafka", "kcat"
# Contract v2 (docs/kiosk-checkin-contract.md): each venue's first kiosk signs its scans, its key
# registered with activities; the aiokafka client sends for these kiosks. The second kiosk is a
# version-1 kiosk in its venue's migration window (no key, no deadline), unsigned: kcat sends for
# these, as it sets one set of headers for a whole chunk and cannot sign record by record.
SIGNING_CLIENT = AIOKAFKA

# Sessions span the whole run so that every scan (and the late ones, scanned earlier while the
# kiosk was offline) falls inside its session's window.
SESSION_STARTS_BEFORE = timedelta(hours=2)
SESSION_LENGTH = timedelta(hours=5)
LATE_SCAN_AGE = timedelta(minutes=75)
ENROL_SESSIONS_START_IN = timedelta(hours=6)
CHECKOUT_AFTER = (timedelta(minutes=20), timedelta(minutes=150))  # after the scans' "now"
# activities rejects a scan dated more than 5 minutes after it arrives (implausible_scan_time,
# services/activities/domain/model.py): the plan's clock runs behind the wall clock by more than
# the latest check-out, so that every scan is dated before it is sent.
PLAN_CLOCK_BEHIND = CHECKOUT_AFTER[1] + timedelta(minutes=10)
CONTEST_SEATS, CONTEST_RESIDENTS, CONTEST_SESSIONS = 5, 8, 2


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
    contest_sessions: tuple[Session, ...] = ()  # CONTEST_SEATS seats, CONTEST_RESIDENTS walk-ins
    contest_residents: tuple[Resident, ...] = ()

    @property
    def all_sessions(self) -> tuple[Session, ...]:
        return (*self.sessions, *self.contest_sessions, *self.enrol_sessions)

    @property
    def all_residents(self) -> tuple[Resident, ...]:
        return (*self.residents, *self.contest_residents)

    @property
    def signing_kiosks(self) -> tuple[str, ...]:
        """The kiosks that sign (contract v2): the first of each venue."""
        return tuple(v.kiosk_ids[0] for v in self.venues)


def kiosk_of(venue: Venue, client: str) -> str:
    """The kiosk a client sends for: a signing kiosk for SIGNING_CLIENT, else a version-1 one."""
    return venue.kiosk_ids[0] if client == SIGNING_CLIENT else venue.kiosk_ids[-1]


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
    before_origin: bool = False  # sent before the scan `origin` (a check-out overtaking its check-in)


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
    contest_sessions = tuple(session(i, "w", CONTEST_SEATS, starts) for i in range(CONTEST_SESSIONS))
    contest_residents = tuple(
        Resident(f"{run_id}-r{n_residents + i:05d}", communities[i % len(communities)], GROUPS[i % len(GROUPS)])
        for i in range(CONTEST_RESIDENTS)
    )
    return Street(run_id, course_id, venues, sessions, enrol_sessions, residents, theme, contest_sessions,
                  contest_residents)  # fmt: skip


def _scan(
    street_session: Session,
    resident: Resident,
    rng: random.Random,
    scanned_at: datetime,
    direction: str = "in",
    kiosk_id: str | None = None,
) -> dict:
    return {
        # Seeded, but unique per run (the session id carries the run id): the platform rightly
        # treats a check-in id it has already seen as a kiosk retry, so runs must not share them.
        "checkin_id": str(uuid.uuid5(uuid.UUID(int=rng.getrandbits(128), version=4), street_session.session_id)),
        "kiosk_id": kiosk_id or rng.choice(street_session.venue.kiosk_ids),
        "venue_id": street_session.venue.venue_id,
        "resident_id": resident.resident_id,
        "session_id": street_session.session_id,
        "scanned_at": scanned_at.isoformat(),
        "direction": direction,
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
    rescan_share: float = 0.02,
    checkout_share: float = 0.03,
    kcat_share: float = 0.5,
    faults: list[Fault] | None = None,
    communities: tuple[str, ...] = COMMUNITIES,
    theme: str = "safety",
) -> Plan:
    rng = random.Random(seed)
    now = now or datetime.now(UTC) - PLAN_CLOCK_BEHIND
    n_dup = round(n_checkins * duplicate_share)
    n_late = round(n_checkins * late_share)
    n_bad = max(1, round(n_checkins * malformed_share))
    n_rescan = round(n_checkins * rescan_share)
    n_checkout = round(n_checkins * checkout_share)
    n_contested = CONTEST_SESSIONS * CONTEST_RESIDENTS
    # the late ones are valid, distinct pairs too
    n_valid = n_checkins - n_dup - n_bad - n_rescan - n_checkout - n_contested
    street = make_street(run_id, n_valid, now=now, communities=communities, theme=theme)
    pairs = [(r, s) for s in street.sessions for r in street.residents]
    rng.shuffle(pairs)
    pairs = pairs[:n_valid]
    seq = 0

    def client() -> str:
        return KCAT if rng.random() < kcat_share else AIOKAFKA

    def scan(kind: str, session: Session, resident: Resident, at: datetime, direction: str = "in", **kw) -> Checkin:
        nonlocal seq
        sender = client()
        body = _scan(session, resident, rng, at, direction, kiosk_of(session.venue, sender))
        seq += 1
        return Checkin(
            seq - 1, kind, sender, resident.resident_id.encode(), orjson.dumps(body),
            (resident.resident_id, session.session_id), body["checkin_id"], **kw,
        )  # fmt: skip

    def jitter(minutes: float) -> timedelta:
        return timedelta(milliseconds=rng.randrange(int(minutes * 60_000)))

    primary: list[Checkin] = []
    late: list[Checkin] = []
    for i, (resident, session) in enumerate(pairs):
        if i < n_late:
            late.append(scan(LATE, session, resident, now - LATE_SCAN_AGE + jitter(1)))
        else:
            primary.append(scan(VALID, session, resident, now + jitter(1)))
    for session in street.contest_sessions:
        for resident in street.contest_residents:
            primary.append(scan(CONTESTED, session, resident, now + jitter(1)))
    on_time_valid = [c for c in primary if c.kind == VALID]
    by_pair = {(r.resident_id, s.session_id): (r, s) for r, s in pairs}
    derived: list[Checkin] = []
    for _ in range(n_dup):  # a kiosk retrying a scan: same bytes, same checkin_id, through its own client
        origin = rng.choice(on_time_valid)
        retry = Checkin(seq, DUPLICATE, origin.client, origin.key, origin.value, origin.pair, origin.checkin_id)
        derived.append(replace(retry, origin=origin.seq))
        seq += 1
    for _ in range(n_rescan):  # the resident scans again: another checkin_id, earlier or later
        origin = rng.choice(on_time_valid)
        resident, session = by_pair[origin.pair]
        derived.append(scan(RESCAN, session, resident, now - timedelta(minutes=10) + jitter(25), origin=origin.seq))
    for origin in rng.sample(on_time_valid, min(n_checkout, len(on_time_valid))):
        resident, session = by_pair[origin.pair]
        low, high = CHECKOUT_AFTER
        at = now + low + jitter((high - low).total_seconds() / 60)
        overtakes = rng.random() < 0.5
        derived.append(scan(CHECKOUT, session, resident, at, "out", origin=origin.seq, before_origin=overtakes))
    base = orjson.loads(primary[0].value) if primary else {}
    for i in range(n_bad):  # malformed ones go through aiokafka: their offsets identify them
        value, reason = malformed_record(i, rng, base)
        primary.append(Checkin(seq, MALFORMED, AIOKAFKA, b"chaos-malformed", value, None, None, reason=reason))
        seq += 1
    rng.shuffle(primary)
    # A scan derived from another goes after it (a retry, a re-scan, a check-out) or, for a
    # check-out overtaking its check-in, before it: each gets a random place on the right side.
    place = {c.seq: float(i) for i, c in enumerate(primary)}
    for c in derived:
        at = place[c.origin]
        place[c.seq] = rng.uniform(-1.0, at - 0.001) if c.before_origin else rng.uniform(at + 0.001, len(primary))
    on_time = sorted([*primary, *derived], key=lambda c: place[c.seq])
    counts = {VALID: n_valid - n_late, LATE: n_late, DUPLICATE: n_dup, MALFORMED: n_bad, RESCAN: n_rescan,
              CHECKOUT: len([c for c in derived if c.kind == CHECKOUT]), CONTESTED: n_contested}  # fmt: skip
    return Plan(street, on_time, late, faults or [], counts)


def fault_schedule(
    *,
    seed: int,
    load_s: float,
    services: tuple[str, ...],
    kills_per_service: int = 3,
    sigterms_per_service: int = 1,
    kafka_restarts: int = 1,
    broker_kills: int = 0,
    pg_terminations: int = 1,
    pauses: int = 1,
    pause_targets: tuple[str, ...] = ("activities",),
) -> list[Fault]:
    """Every fault at a random moment of the load; executed in time order, one at a time.
    `pauses` per target in `pause_targets`; `broker_kills`: SIGKILL of the broker leading the most
    partitions of kiosk.checkins (on a cluster)."""
    rng = random.Random(seed + 1)
    kinds: list[tuple[str, str]] = []
    for s in services:
        kinds += [("sigkill", s)] * kills_per_service + [("sigterm", s)] * sigterms_per_service
    kinds += [("kafka_restart", "kafka")] * kafka_restarts + [("pg_terminate", "postgresql")] * pg_terminations
    kinds += [("broker_kill", "kafka")] * broker_kills
    for target in pause_targets:
        kinds += [("pause", target)] * pauses
    times = sorted(rng.uniform(0.03, 0.9) * load_s for _ in kinds)
    rng.shuffle(kinds)
    return [Fault(kind, target, t) for (kind, target), t in zip(kinds, times, strict=True)]
