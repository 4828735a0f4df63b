"""The activities domain: venues, courses and sessions, needs, kiosk check-ins. Pure Python, no I/O.

The check-in rules, each where it is named: the check-in window (`CHECKIN_OPENS_BEFORE`,
`Session.window_contains`), which session a scan counts for (`pick_session`), walk-in seats
(`walk_in_seats_left`), one attendance per resident and session (`attendance_id`), parked
check-ins and their grace period (`still_parked`), the attended minutes (`attended_minutes`), what a
plausible scan time is (`implausible_scan_time`), what makes a kiosk retry (`checkin_id_conflict`),
and the verdict on one scan that combines them (`judge`).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shared.events.catalogue import AudienceGroup, KioskCheckin, ProviderKind, VenueType

# The check-in window opens half an hour before a session starts (people arrive early).
CHECKIN_OPENS_BEFORE = timedelta(minutes=30)
# Learning sessions are classes, not festivals; the bound lets the check-in path look at only a
# few days of a venue's sessions.
MAX_SESSION_LENGTH = timedelta(hours=24)
# Kiosk clocks are set by NTP but may drift: a scan dated this far after it reached us still counts.
SCAN_CLOCK_SKEW = timedelta(minutes=5)
# Offline kiosks sync late (a closed venue over a holiday, a broken uplink); older scans are a wrong
# clock or a replayed file, not attendance. The demo street's history goes back 4 weeks + 5 days.
MAX_SYNC_DELAY = timedelta(days=90)

# Fixed namespaces: the same fact always yields the same id, across replays and restarts.
ATTENDANCE_NS = uuid.UUID("6f1c5a52-2f0e-4b8e-9a53-3d7f1c0b7a10")
EVENT_NS = uuid.UUID("b3a0e7d4-8a51-4c4e-8f7e-1b2f0e9c4d21")
_ATTENDANCE_NS_BYTES, _EVENT_NS_BYTES = ATTENDANCE_NS.bytes, EVENT_NS.bytes


class RuleViolated(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class Course:
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[AudienceGroup] = field(default_factory=list)
    provider_id: str | None = None
    provider_kind: ProviderKind | None = None
    brand: str | None = None
    community_id: str | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        if not self.title_zh.strip():
            raise RuleViolated("title_zh", "a course needs a Chinese title")
        if not self.title_en.strip():
            raise RuleViolated("title_en", "a course needs an English title")
        if len(set(self.audiences)) != len(self.audiences):
            raise RuleViolated("audiences", "an audience group is listed twice")


@dataclass
class Venue:
    venue_id: str
    community_id: str
    name_zh: str
    name_en: str
    venue_type: VenueType
    capacity: int
    kiosk_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise RuleViolated("capacity", "a venue holds at least one person")
        if len(set(self.kiosk_ids)) != len(self.kiosk_ids):
            raise RuleViolated("kiosk_ids", "a kiosk is listed twice")


@dataclass(frozen=True)
class Session:
    session_id: str
    course_id: str
    venue_id: str
    community_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    elderly_priority_until: datetime | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise RuleViolated("ends_at", "a session ends after it starts")
        if self.ends_at - self.starts_at > MAX_SESSION_LENGTH:
            raise RuleViolated("ends_at", "a session lasts at most 24 hours; schedule several sessions")
        if self.capacity < 1:
            raise RuleViolated("capacity", "a session has at least one seat")
        if self.elderly_priority_until is not None and self.elderly_priority_until > self.starts_at:
            raise RuleViolated("elderly_priority_until", "the elderly priority phase ends before the session starts")

    @property
    def length_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def window_contains(self, at: datetime) -> bool:
        """The check-in window is [start − CHECKIN_OPENS_BEFORE, end]; a check-out is accepted in
        the same window."""
        return self.starts_at - CHECKIN_OPENS_BEFORE <= at <= self.ends_at


# A venue closes and reopens on days of the street's calendar, not UTC ones.
STREET_TZ = ZoneInfo("Asia/Shanghai")


def street_day(at: datetime) -> date:
    return at.astimezone(STREET_TZ).date()


@dataclass(frozen=True)
class Closing:
    """A venue's latest closing: closed from `closed_on`, open again from `reopened_on` (if set)."""

    closed_on: date
    reopened_on: date | None = None
    reason: str = ""

    def closed_at(self, day: date) -> bool:
        return self.closed_on <= day and (self.reopened_on is None or day < self.reopened_on)


def close_venue(current: Closing | None, on: date, reason: str) -> Closing:
    """A venue is closed once at a time; a closing after a reopening starts on or after it."""
    if current is not None and current.reopened_on is None:
        raise RuleViolated("closed_on", f"the venue is closed since {current.closed_on}")
    if current is not None and on < current.reopened_on:
        raise RuleViolated("closed_on", f"the venue reopened on {current.reopened_on}; close it on or after that day")
    if not reason.strip():
        raise RuleViolated("reason", "say why the venue closes")
    return Closing(on, None, reason.strip())


def reopen_venue(current: Closing | None, on: date) -> Closing:
    if current is None or current.reopened_on is not None:
        raise RuleViolated("reopened_on", "the venue is not closed")
    if on <= current.closed_on:
        raise RuleViolated("reopened_on", f"the venue closed on {current.closed_on}; reopen it on a later day")
    return Closing(current.closed_on, on, current.reason)


def check_venue_open_for(session: Session, closing: Closing | None) -> None:
    """A closed venue takes no session on a day it is closed (moving one there counts as new)."""
    if closing is not None and closing.closed_at(street_day(session.starts_at)):
        until = f" until {closing.reopened_on}" if closing.reopened_on else ""
        raise RuleViolated("venue_id", f"venue {session.venue_id} is closed from {closing.closed_on}{until}")


def check_session_fits_venue(session: Session, venue: Venue) -> None:
    if session.capacity > venue.capacity:
        raise RuleViolated("capacity", f"the venue holds {venue.capacity}; a session cannot seat more")


# --- needs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeedCount:
    theme: str
    votes: int
    course_ids: tuple[str, ...] = ()
    # ratings of 1 or 2 of the theme's sessions in the community count as more need (domain/surveys.py)
    low_ratings: int = 0

    @property
    def weight(self) -> int:
        return self.votes + self.low_ratings

    @property
    def has_course(self) -> bool:
        return bool(self.course_ids)


def rank_needs(
    votes_by_theme: dict[str, int], courses_by_theme: dict[str, list[str]], low_ratings: dict[str, int] | None = None
) -> list[NeedCount]:
    """Heaviest first (votes plus low satisfaction ratings, domain/surveys.py); ties by theme id so
    the ranking is stable between calls."""
    low = low_ratings or {}
    needs = [
        NeedCount(
            theme, votes_by_theme.get(theme, 0), tuple(sorted(courses_by_theme.get(theme, ()))), low.get(theme, 0)
        )
        for theme in {*votes_by_theme, *low}
    ]
    return sorted(needs, key=lambda n: (-n.weight, n.theme))


def new_vote_id() -> str:
    """Random, not derived from the resident: it travels on activities.needs (ADR 10), where an id
    computed from a card number would let anyone holding the card find the vote. A second vote
    for the same theme is refused by the table's (resident, community, theme) key instead."""
    return str(uuid.uuid4())


# --- kiosk check-ins ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)  # asked twice per check-in (load, then record); uuid5 is ~3 µs
def attendance_id(resident_id: str, session_id: str) -> uuid.UUID:
    """One attendance per resident and session: its id is derived from the pair alone.

    It is the primary key of `attendance` (migration 0004) and the ONLY thing enforcing the rule
    (every later scan of the pair merges into that row): never change how it is derived."""
    return _uuid5(_ATTENDANCE_NS_BYTES, f"{resident_id}\x1f{session_id}")


def recorded_event_id(resident_id: str, session_id: str) -> uuid.UUID:
    return _uuid5(_EVENT_NS_BYTES, f"attendance.recorded\x1f{resident_id}\x1f{session_id}")


def _uuid5(namespace: bytes, name: str) -> uuid.UUID:
    """`uuid.uuid5` (the same value: unit-tested against it) for the two ids made per check-in:
    the stdlib imports hashlib and runs UUID.__init__'s checks on every call, ~40% of its cost."""
    n = int.from_bytes(_sha1(namespace + name.encode()).digest()[:16], "big")
    n = (n & _CLEAR_VERSION_AND_VARIANT) | _VERSION_5_RFC_4122
    u = _new_uuid(uuid.UUID)
    _set_attr(u, "int", n)
    _set_attr(u, "is_safe", uuid.SafeUUID.unknown)
    return u


_sha1 = hashlib.sha1
_new_uuid, _set_attr = object.__new__, object.__setattr__
_CLEAR_VERSION_AND_VARIANT = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5_RFC_4122 = (5 << 76) | (0x8000 << 48)


def adjusted_event_id(attendance: uuid.UUID, checkin_id: uuid.UUID) -> uuid.UUID:
    # One adjustment per triggering scan: replaying that scan yields the same event id.
    return uuid.uuid5(EVENT_NS, f"attendance.adjusted\x1f{attendance}\x1f{checkin_id}")


def rejected_event_id(checkin_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(EVENT_NS, f"attendance.rejected\x1f{checkin_id}")


def walk_in_seats_left(capacity: int, confirmed: int, walk_ins: int) -> int:
    """A walk-in (a resident without a confirmed seat) gets only a seat that neither the confirmed
    residents nor the walk-ins recorded before hold."""
    return max(0, capacity - confirmed - walk_ins)


def attended_minutes(session: Session, first_in: datetime | None, last_out: datetime | None) -> int:
    """Without a check-out a resident is credited the whole session; with one, the time between
    check-in (or the start, if the check-in is missing or earlier) and check-out, within the session."""
    if last_out is None:
        return session.length_minutes
    begin = max(first_in or session.starts_at, session.starts_at)
    finish = min(last_out, session.ends_at)
    return max(0, int((finish - begin).total_seconds() // 60))


@dataclass
class Attendance:
    """One resident at one session; scans only ever widen it (earliest in, latest out)."""

    attendance_id: uuid.UUID
    resident_id: str
    session: Session
    checkin_id: uuid.UUID
    walk_in: bool
    first_in: datetime | None = None
    last_out: datetime | None = None
    minutes: int = 0

    @classmethod
    def start(cls, resident_id: str, session: Session, checkin_id: uuid.UUID, walk_in: bool) -> Attendance:
        return cls(attendance_id(resident_id, session.session_id), resident_id, session, checkin_id, walk_in)

    def apply(self, direction: Literal["in", "out"], at: datetime) -> bool:
        """Apply one scan; True when the minutes changed."""
        if direction == "in":
            self.first_in = at if self.first_in is None else min(self.first_in, at)
        else:
            self.last_out = at if self.last_out is None else max(self.last_out, at)
        minutes = attended_minutes(self.session, self.first_in, self.last_out)
        changed = minutes != self.minutes
        self.minutes = minutes
        return changed


@dataclass(frozen=True)
class Verdict:
    """attend: count it (session chosen); park: not decidable yet; reject: never counts."""

    kind: Literal["attend", "park", "reject"]
    reason: str = ""
    detail: str = ""
    session: Session | None = None


def pick_session(sessions: Iterable[Session], at: datetime, enrolled: Callable[[str], bool]) -> Session | None:
    """The session whose window contains the scan; one the resident enrolled in wins, then the one
    starting closest to the scan (back-to-back sessions overlap by the 30-minute early window)."""
    open_now = [s for s in sessions if not s.cancelled and s.window_contains(at)]
    if not open_now:
        return None
    return min(open_now, key=lambda s: (not enrolled(s.session_id), abs((s.starts_at - at).total_seconds())))


def still_parked(waited: timedelta, grace: timedelta) -> bool:
    """A check-in whose resident or session is not known yet is parked until `grace` has passed
    since it first arrived (the event that explains it may still come), then rejected."""
    return waited < grace


def is_late_sync(scanned_at: datetime, received_at: datetime, after: timedelta) -> bool:
    """A scan that reaches us more than `after` after it was made (an offline kiosk syncing later)
    still counts, but its attendance is flagged `late_sync` so operators can see delayed data."""
    return received_at - scanned_at > after


def implausible_scan_time(scanned_at: datetime, received_at: datetime) -> str | None:
    """Why a scan's time cannot be true, or None. It may lag its arrival by up to `MAX_SYNC_DELAY`
    (offline kiosks) and lead it by up to `SCAN_CLOCK_SKEW`; a scan outside that is rejected even if
    a session's window contains it (a kiosk clock a year off would credit last year's class)."""
    if scanned_at - received_at > SCAN_CLOCK_SKEW:
        return f"scanned_at {scanned_at.isoformat()} is more than {SCAN_CLOCK_SKEW} after it arrived"
    if received_at - scanned_at > MAX_SYNC_DELAY:
        return f"scanned_at {scanned_at.isoformat()} is more than {MAX_SYNC_DELAY.days} days before it arrived"
    return None


# What a scan of an erased card carries instead of the card from the moment it arrives: its row in
# the check-in ledger and its rejection event name no one (docs/decisions/0010-erasure.md).
ERASED_CARD = "erased:card"


_SCAN_FIELDS = ("kiosk_id", "venue_id", "resident_id", "scanned_at", "direction")


def checkin_id_conflict(first: KioskCheckin, again: KioskCheckin) -> list[str]:
    """The fields in which `again` differs from the scan `first` that used its checkin_id first;
    empty for a kiosk retry. A retry repeats its scan: same kiosk, venue, resident, time and
    direction. The session is compared only when both name one (the ledger stores the session the
    service picked for a scan that named none). Anything else under the same id is another scan (a
    kiosk bug or a forged record): the first is kept, the other refused."""
    differs = [name for name in _SCAN_FIELDS if getattr(first, name) != getattr(again, name)]
    if first.session_id is not None and again.session_id is not None and first.session_id != again.session_id:
        differs.insert(3, "session_id")
    return differs


def judge(
    scan: KioskCheckin,
    *,
    kiosk_venue: str | None,
    resident_known: bool,
    session_by_id: Callable[[str], Session | None],
    sessions_near: Callable[[str, datetime], Iterable[Session]],
    enrolled: Callable[[str], bool],
    waited: timedelta,
    grace: timedelta,
    received_at: datetime,
    closing_of: Callable[[str], Closing | None] = lambda venue_id: None,
) -> Verdict:
    """Decide a scan against what is known now. Kiosks and sessions are this service's own data,
    but residents come from another topic and sessions may be entered after the fact, so what is
    missing is parked until `grace` has passed since the scan first arrived."""
    if kiosk_venue is None:
        return Verdict("reject", "unknown_kiosk", f"kiosk {scan.kiosk_id} is not registered at any venue")
    if kiosk_venue != scan.venue_id:
        return Verdict("reject", "kiosk_not_at_venue", f"kiosk {scan.kiosk_id} belongs to venue {kiosk_venue}")
    implausible = implausible_scan_time(scan.scanned_at, received_at)
    if implausible is not None:
        return Verdict("reject", "implausible_scan_time", implausible)
    if scan.resident_id == ERASED_CARD:
        return Verdict("reject", "resident_erased", "the card's holder was erased at their request")
    missing: list[tuple[str, str]] = []
    if not resident_known:
        missing.append(("unknown_resident", f"resident {scan.resident_id} is not registered"))
    session: Session | None = None
    if scan.session_id is not None:
        session = session_by_id(scan.session_id)
        if session is not None and session.cancelled:
            return Verdict("reject", "session_cancelled", f"session {scan.session_id} was cancelled")
        if session is None:
            missing.append(("no_session_in_window", f"session {scan.session_id} is not known"))
        elif session.venue_id != scan.venue_id:
            missing.append(("session_not_at_venue", f"session {scan.session_id} is at venue {session.venue_id}"))
            session = None
        elif not session.window_contains(scan.scanned_at):
            missing.append(("no_session_in_window", f"the scan is outside the window of session {scan.session_id}"))
            session = None
    else:
        session = pick_session(sessions_near(scan.venue_id, scan.scanned_at), scan.scanned_at, enrolled)
        if session is None:
            missing.append(("no_session_in_window", f"no session at {scan.venue_id} around {scan.scanned_at}"))
    if missing:
        reason, detail = missing[0]
        return Verdict("park" if still_parked(waited, grace) else "reject", reason, detail)
    closing = closing_of(session.venue_id)
    if closing is not None and closing.closed_at(street_day(session.starts_at)):
        # A kiosk syncing late, or a session left on the books: the venue was closed that day.
        closed = f"venue {session.venue_id} is closed from {closing.closed_on}"
        return Verdict("reject", "venue_closed", f"{closed}; session {session.session_id} is not held")
    return Verdict("attend", session=session)
