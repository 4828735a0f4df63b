"""The enrolment domain: residents, sessions' capacity, enrolment and waitlists. Pure Python, no I/O.

The service layer loads a `SessionState` under the session's row lock, asks this module what a
request or an event means, and writes the answer. Keeping the rules here lets them be tested
without Kafka or PostgreSQL, and keeps the SQL free of decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

ELDERLY = "elderly"


@dataclass
class CourseRef:
    """What enrolment knows of a course, learnt from the activities service's events."""

    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str] = field(default_factory=list)
    cancelled: bool = False


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


@dataclass(frozen=True)
class Placement:
    status: Status
    position: int | None  # 1-based waitlist position; None when confirmed


def place(session: SessionState, audience_group: str, *, already_enrolled: bool, now: datetime) -> Placement:
    """Decide whether a resident gets a seat, joins the waitlist, or is refused (and why)."""
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
    if session.audiences and audience_group not in session.audiences:
        raise EnrolmentRefused(
            "audience_not_eligible",
            f"course {session.course_id} is for {', '.join(session.audiences)}; resident is {audience_group}"
            " / 该课程不面向此人群",
            field_name="resident_id",
        )
    if (
        session.elderly_priority_until is not None
        and now < session.elderly_priority_until
        and audience_group != ELDERLY
    ):
        raise EnrolmentRefused(
            "elderly_priority_window",
            f"only elderly residents may enrol before {session.elderly_priority_until.isoformat()}"
            " / 老年人优先报名期内仅限60岁以上居民报名",
            field_name="resident_id",
        )
    if session.confirmed < session.capacity:
        return Placement(Status.CONFIRMED, None)
    return Placement(Status.WAITLISTED, session.waitlisted + 1)


def seats_to_promote(session: SessionState, *, now: datetime) -> int:
    """How many waitlisted residents move up now: never after the start, never above capacity."""
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
