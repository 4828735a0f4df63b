"""The invariants of a chaos run, as pure functions over what was sent and what was read back."""

from __future__ import annotations

import email
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka.structs import ConsumerRecord

from chaos.oracle import Expected, learning_stars, resident_minutes
from chaos.plan import CONTESTED, MALFORMED, Checkin

RECORDED = "learnstreet.activities.attendance.recorded.v1"
REJECTED = "learnstreet.activities.attendance.rejected.v1"
ENROLMENT_PREFIX = "learnstreet.enrolment.enrolment."


def headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}


@dataclass
class Ledger:
    """Every record sent, and which ones Kafka acknowledged."""

    sent: dict[int, Checkin] = field(default_factory=dict)
    acked: dict[int, tuple[int, int] | None] = field(default_factory=dict)  # seq -> (partition, offset)

    def send(self, c: Checkin) -> None:
        self.sent[c.seq] = c

    def ack(self, c: Checkin, partition: int | None = None, offset: int | None = None) -> None:
        self.acked[c.seq] = (partition, offset) if partition is not None else None


@dataclass
class AttendanceFigures:
    recorded: int
    lost: int
    duplicated: int
    phantom: int  # attendance for a pair never sent
    redelivered: int  # the same event (same ce_id) read twice: at-least-once relay, not a duplicate
    rejected: Counter
    lost_examples: list[tuple[str, str]]


def check_attendance(ledger: Ledger, records: Iterable[ConsumerRecord], run_id: str) -> AttendanceFigures:
    # a walk-in into a full session is rightly not recorded: the oracle checks those
    expected = {c.pair for s, c in ledger.sent.items() if c.pair and s in ledger.acked and c.kind != CONTESTED}
    possible = {c.pair for c in ledger.sent.values() if c.pair is not None}
    ids_by_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    events_by_attendance: dict[str, set[str]] = defaultdict(set)
    seen_events: Counter = Counter()
    rejected: Counter = Counter()
    for r in records:
        h = headers(r)
        kind = h.get("ce_type")
        if kind not in (RECORDED, REJECTED):
            continue
        data = orjson.loads(r.value)
        if not str(data.get("resident_id", "")).startswith(run_id):
            continue
        if kind == REJECTED:
            rejected[data.get("reason", "?")] += 1
            continue
        seen_events[h.get("ce_id", "")] += 1
        if seen_events[h.get("ce_id", "")] > 1:
            continue
        pair = (data["resident_id"], data["session_id"])
        ids_by_pair[pair].add(str(data["attendance_id"]))
        events_by_attendance[str(data["attendance_id"])].add(h.get("ce_id", ""))
    observed = set(ids_by_pair)
    lost = sorted(expected - observed)
    duplicated = sum(len(ids) - 1 for ids in ids_by_pair.values())
    duplicated += sum(len(events) - 1 for events in events_by_attendance.values())
    return AttendanceFigures(
        recorded=len(observed & possible),
        lost=len(lost),
        duplicated=duplicated,
        phantom=len(observed - possible),
        redelivered=sum(n - 1 for n in seen_events.values()),
        rejected=rejected,
        lost_examples=lost[:5],
    )


@dataclass
class DeadLetterFigures:
    dead_lettered: int
    unaccounted: int
    reasons: Counter
    wrong_reason: int
    examples: list[str]


def check_dead_letters(ledger: Ledger, records: Iterable[ConsumerRecord], run_id: str) -> DeadLetterFigures:
    """Every acknowledged malformed record is in kiosk.checkins.dlq with a reason (too_large exactly)."""
    found: dict[int, str] = {}
    for r in records:
        h = headers(r)
        if h.get("chaos_run") != run_id or "chaos_seq" not in h:
            continue
        found[int(h["chaos_seq"])] = h.get("dlq_reason", "")
    bad = [s for s, c in ledger.sent.items() if c.kind == MALFORMED and s in ledger.acked]
    missing = [s for s in bad if not found.get(s)]
    wrong = [s for s in bad if ledger.sent[s].reason == "too_large" and found.get(s) not in (None, "", "too_large")]
    examples = [f"seq {s}: {ledger.sent[s].reason} value={(ledger.sent[s].value or b'')[:80]!r}" for s in missing[:5]]
    return DeadLetterFigures(
        dead_lettered=len([s for s in bad if found.get(s)]),
        unaccounted=len(missing),
        reasons=Counter(found[s] for s in bad if found.get(s)),
        wrong_reason=len(wrong),
        examples=examples,
    )


@dataclass
class EnrolmentFigures:
    sessions: int
    events: int
    over_capacity: int
    double_promotions: int
    detail: list[str]


def check_enrolments(records: Iterable[ConsumerRecord], capacities: dict[str, int]) -> EnrolmentFigures:
    """Fold enrolment.enrolments per session: seats held never exceed capacity; nobody promoted twice."""
    state: dict[str, dict[str, str]] = defaultdict(dict)  # session -> enrolment -> status
    promotions: Counter = Counter()
    over: set[str] = set()
    seen: set[str] = set()
    events = 0
    for r in records:
        h = headers(r)
        kind = h.get("ce_type", "")
        if not kind.startswith(ENROLMENT_PREFIX) or h.get("ce_id") in seen:
            continue
        seen.add(h.get("ce_id", ""))
        data = orjson.loads(r.value)
        session = data.get("session_id")
        if session not in capacities:
            continue
        events += 1
        action = kind.removeprefix(ENROLMENT_PREFIX).split(".")[0]
        eid = data["enrolment_id"]
        if action == "confirmed":
            state[session][eid] = "seat"
        elif action == "promoted":
            promotions[eid] += 1
            state[session][eid] = "seat"
        elif action == "waitlisted":
            state[session][eid] = "waiting"
        elif action == "cancelled":
            state[session][eid] = "cancelled"
        seats = sum(1 for s in state[session].values() if s == "seat")
        if seats > capacities[session]:
            over.add(session)
    doubles = [e for e, n in promotions.items() if n > 1]
    detail = [f"session {s} over capacity {capacities[s]}" for s in sorted(over)]
    detail += [f"enrolment {e} promoted {promotions[e]} times" for e in doubles[:5]]
    return EnrolmentFigures(len(capacities), events, len(over), len(doubles), detail)


@dataclass
class NotificationFigures:
    sms_checked: bool
    duplicate_sms: int
    mail_checked: bool
    conflicting_mail: int
    detail: list[str]


def check_notifications(sms_dir: Path, mail_dir: Path, since: float) -> NotificationFigures:
    """No idempotency key (nor notification reference) delivered twice by SMS, no two different
    e-mails for one Message-ID; only what the local gateway and mail sink received since `since`."""
    detail: list[str] = []
    keys: Counter = Counter()
    keys_by_ref: dict[str, set[str]] = defaultdict(set)
    log = sms_dir / "messages.jsonl"
    sms_checked = log.exists()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    if sms_checked:
        for line in log.read_bytes().splitlines():
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if str(item.get("received_at", "")) < stamp or not item.get("idempotency_key"):
                continue
            keys[item["idempotency_key"]] += 1
            if item.get("reference"):
                keys_by_ref[item["reference"]].add(item["idempotency_key"])
    dup = [k for k, n in keys.items() if n > 1]
    dup_refs = [r for r, ks in keys_by_ref.items() if len(ks) > 1]
    detail += [f"sms key {k} delivered {keys[k]} times" for k in dup[:5]]
    detail += [f"sms reference {r} sent under {len(keys_by_ref[r])} keys" for r in dup_refs[:5]]
    bodies: dict[str, set[bytes]] = defaultdict(set)
    mail_checked = mail_dir.is_dir()
    if mail_checked:
        for path in sorted(mail_dir.rglob("*.eml")):
            if path.stat().st_mtime < since:
                continue
            msg = email.message_from_bytes(path.read_bytes())
            mid = msg.get("Message-ID")
            if mid:
                payload = msg.get_payload(decode=True) or str(msg.get_payload()).encode()
                bodies[mid].add(f"{msg.get('To')}\0{msg.get('Subject')}\0".encode() + payload)
    conflicting = [m for m, b in bodies.items() if len(b) > 1]
    detail += [f"message-id {m} has {len(bodies[m])} different e-mails" for m in conflicting[:5]]
    return NotificationFigures(sms_checked, len(dup) + len(dup_refs), mail_checked, len(conflicting), detail)


# ---------------------------------------------------------------- against the independent oracle
@dataclass
class OracleFigures:
    attendance_mismatches: int  # pairs missing, extra, or with other minutes, in scoring's attendance
    contest_overflow: int  # walk-ins recorded beyond the seats of a contested session
    community_mismatches: int  # per-community attendances, minutes or attendees that differ
    minutes_mismatches: int  # residents whose minutes differ from the oracle's
    honour_mismatches: int  # learning stars missing, extra or awarded twice
    detail: list[str]

    @property
    def oracle_mismatches(self) -> int:
        return self.attendance_mismatches + self.contest_overflow + self.community_mismatches


def check_against_oracle(
    expected: Expected,
    observed_attendance: Iterable[tuple[str, str, int]],
    observed_resident_minutes: dict[str, int],
    observed_communities: dict[str, tuple[int, int, int]],
    expected_communities_of: Callable[[dict], dict[str, tuple[int, int, int]]],
    observed_stars: Iterable[str],
    star_min_hours: float,
) -> OracleFigures:
    """`observed_attendance`: (resident, session, minutes) rows of scoring's attendance (a pair held
    twice shows as two rows); `observed_communities`: community -> (attendances, minutes, attendees)
    of the run's course; `observed_stars`: recipients of the run's learning-star honours, one per
    honour held (so a second honour shows as a repeat)."""
    detail: list[str] = []
    rows = list(observed_attendance)
    held: Counter = Counter((r, s) for r, s, _ in rows)
    minutes_of = {(r, s): m for r, s, m in rows}
    must = expected.resolve(held)
    overflow = 0
    for session, (seats, pairs) in expected.contested.items():
        winners = [p for p in pairs if p in held]
        if len(winners) != min(seats, len(pairs)):
            overflow += abs(len(winners) - min(seats, len(pairs)))
            detail.append(f"contested session {session}: {len(winners)} walk-ins recorded for {seats} seats")
    contested_pairs = {p for _, pairs in expected.contested.values() for p in pairs}
    missing = [p for p in must if p not in held]
    extra = [p for p in held if p not in must and p not in contested_pairs]
    twice = [p for p, n in held.items() if n > 1]
    wrong = [p for p in must if p in minutes_of and minutes_of[p] != must[p]]
    detail += [f"attendance missing {p}" for p in missing[:3]] + [f"attendance not expected {p}" for p in extra[:3]]
    detail += [f"attendance {p} held {held[p]} times" for p in twice[:3]]
    detail += [f"attendance {p}: {minutes_of[p]} minutes, oracle {must[p]}" for p in wrong[:3]]
    want_minutes = resident_minutes(must)
    residents = set(want_minutes) | set(observed_resident_minutes)
    bad_minutes = [r for r in residents if want_minutes.get(r, 0) != observed_resident_minutes.get(r, 0)]
    detail += [
        f"resident {r}: {observed_resident_minutes.get(r, 0)} minutes, oracle {want_minutes.get(r, 0)}"
        for r in sorted(bad_minutes)[:3]
    ]
    want_communities = expected_communities_of(must)
    communities = set(want_communities) | set(observed_communities)
    bad_communities = [
        c for c in communities if want_communities.get(c, (0, 0, 0)) != observed_communities.get(c, (0, 0, 0))
    ]
    detail += [
        f"community {c}: (attendances, minutes, attendees) {observed_communities.get(c)}, "
        f"oracle {want_communities.get(c)}"
        for c in sorted(bad_communities)[:3]
    ]
    stars = Counter(observed_stars)
    want_stars = learning_stars(want_minutes, star_min_hours)
    bad_stars = (want_stars - set(stars)) | (set(stars) - want_stars) | {r for r, n in stars.items() if n > 1}
    detail += [
        f"learning star of {r}: held {stars.get(r, 0)}, oracle {int(r in want_stars)}" for r in sorted(bad_stars)[:3]
    ]
    return OracleFigures(
        attendance_mismatches=len(missing) + len(extra) + len(twice) + len(wrong),
        contest_overflow=overflow,
        community_mismatches=len(bad_communities),
        minutes_mismatches=len(bad_minutes),
        honour_mismatches=len(bad_stars),
        detail=detail,
    )


def sms_repeats(sms_dir: Path, since: float) -> tuple[int, list[str]]:
    """Requests the gateway received for an idempotency key after it had accepted one for that key.
    Read from the gateway's log of every request, written before its own de-duplication: a real
    carrier does not de-duplicate, so each would be a second SMS to the resident."""
    log = sms_dir / "requests.jsonl"
    if not log.exists():
        return 0, ["the SMS gateway's request log .local/sms/requests.jsonl does not exist"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    accepted: set[str] = set()
    repeats: Counter = Counter()
    for line in log.read_bytes().splitlines():
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        key = item.get("idempotency_key")
        if not key or str(item.get("received_at", "")) < stamp:
            continue
        if key in accepted:
            repeats[key] += 1
        elif item.get("outcome") == "accepted":
            accepted.add(key)
    return sum(repeats.values()), [f"sms key {k} requested {n} more times after it was accepted" for k, n in
                                   repeats.most_common(5)]  # fmt: skip
