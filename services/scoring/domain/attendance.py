"""The attendance fold (the hot path): attendance facts folded into one state per resident and
session, and the counter deltas (Aggregates) the index reads. Commutative and idempotent, so any
batching, order or duplication of the same events gives the same aggregates (property-tested)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from services.scoring.domain.street import STREET, period_of


@dataclass(frozen=True)
class AttendanceFact:
    """One AttendanceRecorded (recorded=True) or AttendanceAdjusted as the fold sees it."""

    attendance_id: str
    resident_id: str
    session_id: str
    minutes: int
    at: datetime  # envelope time: orders adjustments
    event_id: str
    recorded: bool
    course_id: str | None = None
    community_id: str | None = None  # venue's community
    home_community_id: str | None = None
    audience_group: str | None = None
    day: date | None = None

    @property
    def key(self) -> tuple[str, str]:
        # One attendance per resident per session: the pair identifies it (attendance_id is derived from it).
        return (self.session_id, self.resident_id)


@dataclass(frozen=True)
class AttendanceState:
    attendance_id: str
    resident_id: str
    session_id: str
    minutes: int
    recorded: bool  # False: only an adjustment arrived so far (counts nothing yet)
    adjusted_at: datetime | None = None
    adjusted_by: str | None = None
    course_id: str | None = None
    community_id: str | None = None
    home_community_id: str | None = None
    audience_group: str | None = None
    day: date | None = None


def _newer(fact: AttendanceFact, state: AttendanceState) -> bool:
    if state.adjusted_at is None:
        return True
    return (fact.at, fact.event_id) > (state.adjusted_at, state.adjusted_by or "")


def fold_attendance(state: AttendanceState | None, fact: AttendanceFact) -> AttendanceState:
    """Apply one fact. Commutative and idempotent: a recording fills in the details once; the
    minutes are those of the latest adjustment (by time, then event id) or else the recording's."""
    if fact.recorded:
        if state is not None and state.recorded:
            return state
        minutes = state.minutes if state is not None and state.adjusted_at is not None else fact.minutes
        return AttendanceState(
            attendance_id=fact.attendance_id, resident_id=fact.resident_id, session_id=fact.session_id,
            minutes=minutes, recorded=True,
            adjusted_at=state.adjusted_at if state else None, adjusted_by=state.adjusted_by if state else None,
            course_id=fact.course_id, community_id=fact.community_id, home_community_id=fact.home_community_id,
            audience_group=fact.audience_group, day=fact.day,
        )  # fmt: skip
    if state is None:
        return AttendanceState(
            attendance_id=fact.attendance_id, resident_id=fact.resident_id, session_id=fact.session_id,
            minutes=fact.minutes, recorded=False, adjusted_at=fact.at, adjusted_by=fact.event_id,
            community_id=fact.community_id,
        )  # fmt: skip
    if not _newer(fact, state):
        return state
    return replace(state, minutes=fact.minutes, adjusted_at=fact.at, adjusted_by=fact.event_id)


@dataclass
class Aggregates:
    """Counters the index reads. Keys are plain tuples so SQL upserts map onto them one to one."""

    daily: dict[tuple[str, date, str], list[int]] = field(default_factory=dict)  # (community, day, course) → [n, min]
    # Distinct attendees: the last day each resident attended, per home community. "Attended in the
    # last 4 weeks / 12 months" is then a plain count of rows with a recent last day.
    last_seen: dict[tuple[str, str], date] = field(default_factory=dict)  # (home community, resident) → day
    audience: dict[tuple[str, str], str] = field(default_factory=dict)  # same key → audience group
    # Audience groups reached: the last day each group was seen, per community and for the street.
    audience_seen: dict[tuple[str, str], date] = field(default_factory=dict)  # (community, group) → day
    resident_minutes: dict[tuple[str, str], int] = field(default_factory=dict)  # (resident, period) → minutes

    def add(self, s: AttendanceState, sign: int, minutes: int) -> None:
        key = (s.community_id or "", s.day, s.course_id or "")
        counters = self.daily.setdefault(key, [0, 0])
        counters[0] += sign
        counters[1] += minutes
        rkey = (s.resident_id, period_of(s.day))
        self.resident_minutes[rkey] = self.resident_minutes.get(rkey, 0) + minutes
        if sign > 0:
            home = s.home_community_id or s.community_id or ""
            _latest(self.last_seen, (home, s.resident_id), s.day)
            if s.audience_group:
                self.audience.setdefault((home, s.resident_id), s.audience_group)
                _latest(self.audience_seen, (home, s.audience_group), s.day)
                _latest(self.audience_seen, (STREET, s.audience_group), s.day)


def _latest(days: dict, key: tuple, day: date) -> None:
    if key not in days or days[key] < day:
        days[key] = day


def deltas(before: AttendanceState | None, after: AttendanceState) -> tuple[int, int]:
    """(attendance count delta, minutes delta) that moving from `before` to `after` makes."""
    was = before is not None and before.recorded
    if not after.recorded:
        return 0, 0
    if not was:
        return 1, after.minutes
    return 0, after.minutes - before.minutes


def apply_batch(
    states: dict[tuple[str, str], AttendanceState], facts: Iterable[AttendanceFact]
) -> tuple[dict[tuple[str, str], AttendanceState], Aggregates]:
    """Fold a batch onto the known states; returns the changed states and the counter deltas."""
    changed: dict[tuple[str, str], AttendanceState] = {}
    original: dict[tuple[str, str], AttendanceState | None] = {}
    for fact in facts:
        aid = fact.key
        if aid not in original:
            original[aid] = states.get(aid)
        current = changed.get(aid, original[aid])
        new = fold_attendance(current, fact)
        if new != current:
            changed[aid] = new
    agg = Aggregates()
    for aid, new in changed.items():
        n, minutes = deltas(original[aid], new)
        if n or minutes:
            agg.add(new, n, minutes)
    return changed, agg


def recompute(facts: Iterable[AttendanceFact]) -> Aggregates:
    """From-scratch computation (the property tests' oracle): final state per attendance, then counters."""
    by_id: dict[tuple[str, str], list[AttendanceFact]] = {}
    for f in facts:
        by_id.setdefault(f.key, []).append(f)
    agg = Aggregates()
    for fs in by_id.values():
        rec = next((f for f in fs if f.recorded), None)
        if rec is None:
            continue
        adjustments = [f for f in fs if not f.recorded]
        minutes = max(adjustments, key=lambda f: (f.at, f.event_id)).minutes if adjustments else rec.minutes
        agg.add(AttendanceState(rec.attendance_id, rec.resident_id, rec.session_id, minutes, True,
                                course_id=rec.course_id, community_id=rec.community_id,
                                home_community_id=rec.home_community_id, audience_group=rec.audience_group,
                                day=rec.day), 1, minutes)  # fmt: skip
    return agg


def merge(total: Aggregates, part: Aggregates) -> Aggregates:
    for k, (n, m) in part.daily.items():
        c = total.daily.setdefault(k, [0, 0])
        c[0] += n
        c[1] += m
    for k, day in part.last_seen.items():
        _latest(total.last_seen, k, day)
    for k, group in part.audience.items():
        total.audience.setdefault(k, group)  # the first known group stays, as the SQL upsert does
    for k, day in part.audience_seen.items():
        _latest(total.audience_seen, k, day)
    for k, m in part.resident_minutes.items():
        total.resident_minutes[k] = total.resident_minutes.get(k, 0) + m
    return total


def normalised(agg: Aggregates) -> tuple:
    """Comparable form (zero counters dropped)."""
    return (
        {k: tuple(v) for k, v in agg.daily.items() if v != [0, 0]},
        dict(agg.last_seen),
        dict(agg.audience),
        dict(agg.audience_seen),
        {k: v for k, v in agg.resident_minutes.items() if v},
    )
