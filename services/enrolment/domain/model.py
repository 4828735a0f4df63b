"""The enrolment domain: residents, sessions' capacity, enrolment and waitlists. Pure Python, no I/O.

The service layer loads a `SessionState` under the session's row lock, asks this module what a
request or an event means, and writes the answer. Keeping the rules here lets them be tested
without Kafka or PostgreSQL, and keeps the SQL free of decisions.

The rules, each named where it lives: audience eligibility (`audience_eligible`), the elderly
priority window (`elderly_priority_excludes`), seat or waitlist (`has_free_seat`,
`next_waitlist_position`), waitlist order (`waitlist_order`, `waitlist_position`), promotion
(`seats_to_promote`), all applied to one request by `place`. Where a rule must also run inside an
SQL statement (under the session's lock, so that concurrent enrolments see each other's seats,
or because it picks rows), its docstring names the statement, and
tests/unit/enrolment/test_rules.py checks both the model's version and that the statement still
says the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

ELDERLY = "elderly"


class Status(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class EnrolmentRefused(Exception):
    """A request the rules do not allow; `code` is stable (metric label), `reason` is for people."""

    def __init__(self, code: str, reason: str, *, field_name: str = "session_id") -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.field = field_name


@dataclass(frozen=True)
class SessionState:
    """A session as seen under its row lock: schedule, capacity and current counts."""

    session_id: str
    course_id: str
    starts_at: datetime
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: bool = False
    elderly_priority_until: datetime | None = None
    audiences: tuple[str, ...] = ()  # the course's; empty means everyone
    course_cancelled: bool = False

    def started(self, now: datetime) -> bool:
        return now >= self.starts_at

    @property
    def free_seats(self) -> int:
        return max(0, self.capacity - self.confirmed)


# --- the rules ------------------------------------------------------------------------------------


def audience_eligible(audiences: Collection[str], audience_group: str) -> bool:
    """Audience eligibility: a course that lists audience groups takes only residents of those
    groups; a course that lists none is open to everyone."""
    return not audiences or audience_group in audiences


def elderly_priority_excludes(session: SessionState, audience_group: str, now: datetime) -> bool:
    """Elderly priority window: until the session's `elderly_priority_until`, only elderly
    residents may enrol."""
    until = session.elderly_priority_until
    return until is not None and now < until and audience_group != ELDERLY


def has_free_seat(confirmed: int, capacity: int) -> bool:
    """Seat or waitlist: a resident is confirmed while fewer residents are confirmed than the
    session has seats, and waitlisted otherwise.

    Decided again under the session's lock by `repository.place_enrolment`
    (`confirmed_count < capacity AS seat`): the counts `place` saw may be stale by then."""
    return confirmed < capacity


def next_waitlist_position(waitlisted: int) -> int:
    """A newly waitlisted resident joins the end of the waitlist, behind the `waitlisted` residents
    already on it.

    Under the session's lock in `repository.place_enrolment` (`waitlist_count + 1`)."""
    return waitlisted + 1


def waitlist_order(seqs: Iterable[int]) -> list[int]:
    """Waitlist order: first come, first served, by the arrival number `seq` an enrolment takes
    under the session's lock (never reused, so the order never changes).

    Applied in SQL, which picks the rows: `ORDER BY seq` in `repository.promote_and_count`,
    `repository.cancel_and_promote` and `repository.cancel_if_unchanged`."""
    return sorted(seqs)


def waitlist_position(seq: int, waitlisted_seqs: Iterable[int]) -> int:
    """A waitlisted resident's position: one more than the waitlisted residents ahead of them in
    `waitlist_order`.

    Applied in SQL to each listed enrolment: the `w.seq <= e.seq` count in
    `repository._ENROLMENT_VIEW`."""
    return sum(1 for other in waitlisted_seqs if other < seq) + 1


@dataclass(frozen=True)
class Placement:
    status: Status
    position: int | None  # 1-based waitlist position; None when confirmed


def place(session: SessionState, audience_group: str, *, already_enrolled: bool, now: datetime) -> Placement:
    """Decide whether a resident gets a seat, joins the waitlist, or is refused (and why).

    One live enrolment per resident and session: `already_enrolled` refuses the repeat; the
    partial unique index `enrolments_live_once` guards concurrent double submissions."""
    if session.cancelled or session.course_cancelled:
        raise EnrolmentRefused("session_cancelled", f"session {session.session_id} is cancelled / 该课程场次已取消")
    if session.started(now):
        raise EnrolmentRefused(
            "session_started", f"session {session.session_id} has already started / 该场次已开始，不能再报名"
        )
    if already_enrolled:
        raise EnrolmentRefused(
            "already_enrolled",
            f"resident is already enrolled in session {session.session_id} / 已报名该场次，请勿重复报名",
            field_name="resident_id",
        )
    if not audience_eligible(session.audiences, audience_group):
        raise EnrolmentRefused(
            "audience_not_eligible",
            f"course {session.course_id} is for {', '.join(session.audiences)}; resident is {audience_group}"
            " / 该课程不面向此人群",
            field_name="resident_id",
        )
    if elderly_priority_excludes(session, audience_group, now):
        raise EnrolmentRefused(
            "elderly_priority_window",
            f"only elderly residents may enrol before {session.elderly_priority_until.isoformat()}"
            " / 老年人优先报名期内仅限60岁以上居民报名",
            field_name="resident_id",
        )
    if has_free_seat(session.confirmed, session.capacity):
        return Placement(Status.CONFIRMED, None)
    return Placement(Status.WAITLISTED, next_waitlist_position(session.waitlisted))


def seats_to_promote(session: SessionState, *, now: datetime) -> int:
    """Promotion: when seats free up (a cancellation, more capacity), as many waitlisted residents
    as there are free seats move up, in `waitlist_order`; never after the start, never in a
    cancelled session.

    The statements take this count as a parameter (`LIMIT`): `repository.promote_and_count`,
    `repository.cancel_and_promote`, `repository.cancel_if_unchanged`."""
    if session.cancelled or session.course_cancelled or session.started(now):
        return 0
    return min(session.free_seats, session.waitlisted)


def after_cancellation(session: SessionState, cancelled_status: str) -> SessionState:
    """The session's counts once one enrolment in `cancelled_status` is cancelled."""
    confirmed = session.confirmed - (1 if cancelled_status == Status.CONFIRMED else 0)
    waitlisted = session.waitlisted - (1 if cancelled_status == Status.WAITLISTED else 0)
    return SessionState(**{**session.__dict__, "confirmed": confirmed, "waitlisted": waitlisted})


# --- residents --------------------------------------------------------------------------------

# Non-personal attributes other services may see (enrolment.residents) versus contact data and
# preferences that only the notify service may see (enrolment.contacts).
PUBLIC_FIELDS = ("community_id", "audience_group", "family_id", "employer_id", "volunteer", "language")
CONTACT_FIELDS = (
    "phone", "email", "language", "preferred_channel", "consent", "opted_out_categories",
    "quiet_hours_start", "quiet_hours_end",
)  # fmt: skip
# What a resident may change about themself; community, group, family and employer are verified
# by an operator because honours and the index depend on them.
RESIDENT_EDITABLE = frozenset(CONTACT_FIELDS) | {"volunteer"}


def changed_topics(changes: dict[str, object]) -> tuple[bool, bool]:
    """(public attributes changed, contact data changed) for a set of changed fields."""
    return any(f in PUBLIC_FIELDS for f in changes), any(f in CONTACT_FIELDS for f in changes)


def forbidden_for_resident(changes: dict[str, object]) -> list[str]:
    return sorted(f for f in changes if f not in RESIDENT_EDITABLE)


def channel_without_address(resident: Mapping[str, object], changes: Collection[str] = ()) -> str | None:
    """The field to name when a consenting resident's preferred channel has no address (None when
    the channel can reach them): the address when the change cleared it, else the channel or the
    consent that the change set. Registration and every later change keep this true, so notify
    never holds a consent it cannot honour."""
    if not resident.get("consent"):
        return None
    address = "email" if resident.get("preferred_channel") == "email" else "phone"
    if resident.get(address):
        return None
    for blamed in (address, "preferred_channel", "consent"):
        if blamed in changes:
            return blamed
    return address
