"""The notify domain: what residents receive, when and on which channel. Pure Python, no I/O."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal

Channel = Literal["sms", "email"]

# Terminal statuses never go back to the queue except through an operator's replay.
QUEUED, DEFERRED, SENDING, SENT, FAILED, SUPPRESSED, CANCELLED = (
    "queued", "deferred", "sending", "sent", "failed", "suppressed", "cancelled",
)  # fmt: skip
PENDING_STATUSES = (QUEUED, DEFERRED, SENDING)

# kind -> opt-out category. Residents opt out of categories, not of single kinds, because that is
# what a consent form can list in words a resident understands.
KIND_CATEGORY: dict[str, str] = {
    "enrolment_confirmed": "enrolment",
    "enrolment_waitlisted": "enrolment",
    "enrolment_promoted": "enrolment",
    "enrolment_cancelled": "enrolment",
    "session_changed": "session_updates",
    "session_cancelled": "session_updates",
    "course_cancelled": "session_updates",
    "reminder_24h": "reminders",
    "reminder_2h": "reminders",
    "honour_awarded": "honours",
    "honour_revoked": "honours",
    # broadcasts (宣传): an operator's message to many residents, never about one resident's seat
    "announcement": "announcements",
    "promotion": "promotions",
    # a one-time code the resident asked for to sign in: not a notification they consent to or
    # opt out of, urgent (useless after minutes), and only ever to their registered phone
    "sign_in_code": "sign_in",
}
# Kinds a resident requested themself: sent regardless of consent, opt-outs and quiet hours.
REQUESTED_KINDS = frozenset({"sign_in_code"})
KINDS = tuple(KIND_CATEGORY)
REMINDERS: dict[str, timedelta] = {"reminder_24h": timedelta(hours=24), "reminder_2h": timedelta(hours=2)}
# What an enrolment notice says is good news about a seat; a cancellation makes it untrue.
SEAT_NOTICES = ("enrolment_confirmed", "enrolment_waitlisted", "enrolment_promoted")
SESSION_NOTICES = ("session_changed", *REMINDERS)


class RuleViolated(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def idempotency_key(resident_id: str, kind: str, subject: str) -> str:
    """One key per (resident, kind, subject): the same fact can never give a second message."""
    if kind not in KIND_CATEGORY:
        raise RuleViolated("kind", f"unknown notification kind {kind!r}")
    return f"{resident_id}:{kind}:{subject}"


def parse_hhmm(value: str, field_name: str = "quiet_hours") -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise RuleViolated(field_name, f"{value!r} is not a time of day as HH:MM") from None


@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time during which non-urgent messages wait.

    The window may cross midnight (22:00-08:00). Equal start and end means no quiet hours."""

    start: time
    end: time
    tz: tzinfo

    @classmethod
    def parse(cls, start: str, end: str, tz: tzinfo) -> QuietHours:
        return cls(parse_hhmm(start, "quiet_hours_start"), parse_hhmm(end, "quiet_hours_end"), tz)

    @property
    def empty(self) -> bool:
        return self.start == self.end

    def contains(self, at: datetime) -> bool:
        if self.empty:
            return False
        local = at.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def window_end(self, at: datetime) -> datetime:
        """When the window that contains `at` ends (`at` itself when outside the window)."""
        if not self.contains(at):
            return at
        local = at.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, tzinfo=self.tz)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


@dataclass(frozen=True)
class Contact:
    resident_id: str
    phone: str | None = None
    email: str | None = None
    language: str = "zh-CN"
    preferred_channel: Channel = "sms"
    consent: bool = False
    opted_out_categories: tuple[str, ...] = ()
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None

    def address(self, channel: Channel) -> str | None:
        return self.phone if channel == "sms" else self.email

    def channel(self, locked: Channel | None = None) -> Channel | None:
        """The channel to use: the one a first attempt used (so a retry never switches medium and
        the resident gets two different messages), else the preferred one, else any known one."""
        for candidate in (locked, self.preferred_channel, "sms" if self.preferred_channel == "email" else "email"):
            if candidate and self.address(candidate):
                return candidate
        return None


@dataclass
class Pending:
    """A notification due for a delivery decision (what the worker claimed)."""

    notification_id: str
    resident_id: str
    kind: str
    attempts: int
    created_at: datetime
    contact_deadline: datetime
    channel: Channel | None = None
    session_starts_at: datetime | None = None
    params: dict = field(default_factory=dict)
    # Names (course title, venue name, session time) the message needs and the catalogue has not
    # given yet, and until when it waits for them (None: it does not wait).
    names_missing: frozenset[str] = frozenset()
    catalogue_deadline: datetime | None = None


@dataclass(frozen=True)
class Send:
    channel: Channel
    address: str


@dataclass(frozen=True)
class Defer:
    until: datetime


@dataclass(frozen=True)
class AwaitContact:
    until: datetime


@dataclass(frozen=True)
class AwaitCatalogue:
    until: datetime


@dataclass(frozen=True)
class Fail:
    reason: str


@dataclass(frozen=True)
class Suppress:
    reason: str


Decision = Send | Defer | AwaitContact | AwaitCatalogue | Fail | Suppress


def is_urgent(kind: str, session_starts_at: datetime | None, now: datetime, quiet: QuietHours) -> bool:
    """Urgent messages ignore quiet hours: waiting for the window's end would make them useless
    (the session has started by then), or a session cancelled for today must be known at once."""
    if session_starts_at is None:
        return False
    if session_starts_at <= quiet.window_end(now):
        return True
    if kind in ("session_cancelled", "course_cancelled", "session_changed"):
        return session_starts_at.astimezone(quiet.tz).date() <= now.astimezone(quiet.tz).date()
    return False


def decide(
    pending: Pending, contact: Contact | None, now: datetime, default_quiet: QuietHours, max_attempts: int
) -> Decision:
    """What to do with a due notification now."""
    if pending.attempts >= max_attempts:
        return Fail("retries_exhausted")
    if pending.kind in REQUESTED_KINDS:
        return _decide_requested(pending, contact, now)
    category = KIND_CATEGORY.get(pending.kind, pending.kind)
    if contact is not None:
        if not contact.consent:
            return Suppress("no_consent")
        if category in contact.opted_out_categories or "all" in contact.opted_out_categories:
            return Suppress("opted_out")
    channel = contact.channel(pending.channel) if contact is not None else None
    if contact is None or channel is None:
        # The contact travels on another topic and may arrive after the enrolment: wait, bounded.
        if now >= pending.contact_deadline:
            return Fail("no_contact")
        return AwaitContact(pending.contact_deadline)
    if pending.names_missing and pending.catalogue_deadline is not None and now < pending.catalogue_deadline:
        # The catalogue travels on another topic: wait (bounded) rather than show a raw id.
        return AwaitCatalogue(pending.catalogue_deadline)
    quiet = default_quiet
    if contact.quiet_hours_start is not None and contact.quiet_hours_end is not None:
        quiet = QuietHours.parse(contact.quiet_hours_start, contact.quiet_hours_end, default_quiet.tz)
    if quiet.contains(now) and not is_urgent(pending.kind, pending.session_starts_at, now, quiet):
        return Defer(quiet.window_end(now))
    address = contact.address(channel)
    assert address is not None
    return Send(channel, address)


def _decide_requested(pending: Pending, contact: Contact | None, now: datetime) -> Decision:
    """A sign-in code: at once, by SMS to the registered phone only (an e-mail address is not what
    the resident signs in with), and never once it has expired."""
    expires = pending.params.get("expires_at")
    if expires is not None and now >= datetime.fromisoformat(expires):
        return Suppress("expired")
    if contact is None:
        if now >= pending.contact_deadline:
            return Fail("no_contact")
        return AwaitContact(pending.contact_deadline)
    if not contact.phone:
        return Fail("no_phone")
    return Send("sms", contact.phone)


def lease_holds(now: datetime, lease_until: datetime) -> bool:
    """A worker may hand a claimed message to a channel only while its lease on the row holds:
    once it has run out, another instance may claim the row and send it (`claim_due` takes rows
    in `sending` whose lease, stored as `due_at`, is over), so a late send would be a second one.
    A pause after this check and before the provider has the message cannot be told apart from a
    crash: the message is sent again under the same idempotency key."""
    return now < lease_until


def retry_delay(attempt: int, base_s: float, cap_s: float, rnd: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": never less than half the step, so retries stay
    spread out but bounded; 8 attempts with base 15 s span about half an hour."""
    step = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return step / 2 + (rnd or random).uniform(0, step / 2)


def reminder_times(starts_at: datetime, now: datetime) -> dict[str, datetime]:
    """The reminders still worth sending for a session starting at `starts_at`; a reminder whose
    moment has passed is skipped (the confirmation just sent says the same)."""
    return {kind: starts_at - before for kind, before in REMINDERS.items() if starts_at - before > now}


def reminder_subject(enrolment_id: str, starts_at: datetime, schedule: int) -> str:
    # A reminder is of one enrolment (a resident who cancels and enrols again has a new one) for one
    # schedule of its session: the n-th schedule, so A -> B -> A reminds again for the second A,
    # while a replay of the same schedule maps to the same key.
    return f"{enrolment_id}@{starts_at.astimezone(UTC):%Y%m%dT%H%MZ}#{schedule}"


def change_subject(enrolment_id: str, schedule: int) -> str:
    """The fact "this enrolment's session got its n-th schedule": A -> B -> A -> B gives three."""
    return f"{enrolment_id}#{schedule}"


# --- templates ---------------------------------------------------------------------------------


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "-"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def render(template: str, params: dict[str, object]) -> Rendered:
    """A template is a `Subject: ...` line, a blank line and the body, with `{name}` fields.
    Unknown fields render as "-" rather than failing: a street may edit templates freely."""
    head, _, body = template.partition("\n\n")
    subject = head.removeprefix("Subject:").strip() if head.startswith("Subject:") else ""
    if not subject:
        body = template
    values = _Blank(params)
    return Rendered(subject.format_map(values), body.strip().format_map(values))


def template_fields(template: str) -> set[str]:
    """The `{name}` fields a template uses (what a message needs to know before it is rendered)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# --- what an event implies ---------------------------------------------------------------------
# Notify consumes several topics (catalogue, enrolments, contacts, honours) whose relative order
# Kafka does not promise. Each handler reads the facts below, asks one of the `plan_*` rules what
# the event implies, and applies the plan: drop the pending notices it names (those not yet handed
# to a channel), then queue the new ones (by idempotency key, so a redelivery queues nothing). The
# rules are written so that the messages a resident ends with do not depend on that order
# (tests/unit/notify/test_order.py permutes the events with hypothesis).


@dataclass(frozen=True)
class Seat:
    """Notify's view of one enrolment. `at` is the event time of the latest fact applied to it."""

    enrolment_id: str
    resident_id: str
    session_id: str
    course_id: str
    status: str  # confirmed, waitlisted, cancelled
    at: datetime | None = None


@dataclass(frozen=True)
class SessionState:
    """What notify knows of a session when an event arrives. `schedule` counts the moves residents
    were told of: the n-th schedule is part of the identity of its change notice and reminders."""

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    venue_id: str | None = None
    scheduled: bool = False
    cancelled: bool = False
    course_cancelled: bool = False
    schedule: int = 0


@dataclass
class Queue:
    """A notice to queue; `due_at` None means now."""

    resident_id: str
    kind: str
    subject: str
    enrolment_id: str | None = None
    due_at: datetime | None = None
    params: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return idempotency_key(self.resident_id, self.kind, self.subject)


@dataclass(frozen=True)
class Drop:
    """Cancel the pending notices of these kinds in this scope (a scope left None matches all); a
    reminder for `unless_starts_at` is kept. A plan never drops what it queues itself."""

    reason: str
    kinds: tuple[str, ...]
    enrolment_id: str | None = None
    session_id: str | None = None
    course_id: str | None = None
    honour_id: str | None = None
    unless_starts_at: datetime | None = None


@dataclass
class Plan:
    queue: list[Queue] = field(default_factory=list)
    drop: list[Drop] = field(default_factory=list)
    seat: Seat | None = None  # the enrolment as it stands after the event (None: unchanged)
    schedule: int | None = None  # the session's schedule count after the event (None: unchanged)

    @property
    def keys(self) -> set[str]:
        return {q.key for q in self.queue}


def newer_enrolment_fact(known: Seat | None, at: datetime) -> bool:
    """Whether an enrolment event is news. Its topic is ordered per session, but a replayed or
    republished event can bring an older fact after a newer one (a "waitlisted" after the
    promotion): the event's own `at` orders the facts of one enrolment, and a cancelled enrolment
    stays cancelled (enrolment ids are never reused: enrolling again makes a new one)."""
    if known is None:
        return True
    if known.status == "cancelled":
        return False
    return known.at is None or at >= known.at


def truthful_enrolment_notice(kind: str, seat: Seat, session: SessionState) -> Queue | None:
    """The notice an enrolment event gives. A seat in a session or course already cancelled (its
    cancellation came first, on the catalogue topic) is told as the cancellation: good news would
    be the resident's last word on a session that will not take place."""
    if kind in SEAT_NOTICES:
        if session.course_cancelled:
            return Queue(seat.resident_id, "course_cancelled", seat.course_id, seat.enrolment_id)
        if session.cancelled:
            return Queue(seat.resident_id, "session_cancelled", seat.enrolment_id, seat.enrolment_id)
        return Queue(seat.resident_id, kind, seat.enrolment_id, seat.enrolment_id)
    if session.cancelled or session.course_cancelled:
        return None  # the session's or course's cancellation notice says it already
    return Queue(seat.resident_id, kind, seat.enrolment_id, seat.enrolment_id)


def reminders(seat: Seat, starts_at: datetime, schedule: int, now: datetime) -> list[Queue]:
    subject = reminder_subject(seat.enrolment_id, starts_at, schedule)
    return [
        Queue(seat.resident_id, kind, subject, seat.enrolment_id, due_at=due_at)
        for kind, due_at in reminder_times(starts_at, now).items()
    ]


def plan_enrolment(kind: str, seat: Seat, known: Seat | None, session: SessionState, now: datetime) -> Plan:
    """An enrolment event (`kind` is the notice it names: enrolment_confirmed, _waitlisted,
    _promoted or _cancelled; `seat` carries the event's status and `at`)."""
    if seat.at is not None and not newer_enrolment_fact(known, seat.at):
        return Plan()
    notice = truthful_enrolment_notice(kind, seat, session)
    plan = Plan(queue=[notice] if notice else [], seat=seat)
    if kind == "enrolment_promoted":  # "waitlisted" still queued is no longer true
        plan.drop.append(Drop("promoted", ("enrolment_waitlisted",), enrolment_id=seat.enrolment_id))
    if kind == "enrolment_cancelled":
        plan.drop.append(Drop("enrolment_cancelled", (*SEAT_NOTICES, *SESSION_NOTICES), enrolment_id=seat.enrolment_id))
    if notice is not None and notice.kind in ("enrolment_confirmed", "enrolment_promoted") and session.starts_at:
        plan.queue += reminders(seat, session.starts_at, session.schedule, now)
    return plan


def plan_schedule(
    session_id: str, seats: list[Seat], before: SessionState | None, after: SessionState, changed: bool,
    now: datetime,
) -> Plan:  # fmt: skip
    """SessionScheduled / SessionChanged (`changed`): residents are told of a move of time or
    venue, reminders follow the session's time. A cancelled session stays cancelled."""
    if before is not None and before.cancelled:
        return Plan()
    moved = before is None or (before.starts_at, before.ends_at, before.venue_id) != (
        after.starts_at,
        after.ends_at,
        after.venue_id,
    )
    told = changed and moved
    schedule = (before.schedule if before else 0) + (1 if told else 0)
    plan = Plan(schedule=schedule)
    if told:
        for seat in seats:
            plan.queue.append(Queue(seat.resident_id, "session_changed", change_subject(seat.enrolment_id, schedule),
                                    seat.enrolment_id))  # fmt: skip
        # An earlier change notice not sent yet is superseded by this one.
        plan.drop.append(Drop("superseded", ("session_changed",), session_id=session_id))
    plan.drop.append(Drop("rescheduled", tuple(REMINDERS), session_id=session_id, unless_starts_at=after.starts_at))
    if after.starts_at is not None:
        for seat in seats:
            if seat.status == "confirmed":
                plan.queue += reminders(seat, after.starts_at, schedule, now)
    return plan


def plan_session_cancelled(
    session_id: str, seats: list[Seat], before: SessionState | None, course_cancelled: bool
) -> Plan:
    """Everything pending about the session becomes untrue (seat notices included: a deferred
    "confirmed" sent after the cancellation would be the last word); the enrolled are told once."""
    plan = Plan(drop=[Drop("session_cancelled", (*SEAT_NOTICES, *SESSION_NOTICES), session_id=session_id)])
    if (before is not None and before.cancelled) or course_cancelled:
        return plan  # residents were told (or are about to be told) already
    plan.queue = [Queue(s.resident_id, "session_cancelled", s.enrolment_id, s.enrolment_id) for s in seats]
    return plan


def plan_course_cancelled(course_id: str, seats: list[Seat]) -> Plan:
    """One message per resident for the whole course, replacing everything pending about it."""
    drop = Drop("course_cancelled", (*SEAT_NOTICES, *SESSION_NOTICES, "session_cancelled"), course_id=course_id)
    residents = sorted({s.resident_id for s in seats})
    return Plan(queue=[Queue(r, "course_cancelled", course_id) for r in residents], drop=[drop])


def plan_honour_awarded(honour_id: str, residents: list[str], revoked: bool) -> Plan:
    """An award whose revocation came first (a replay) is not news any more."""
    if revoked:
        return Plan()
    return Plan(queue=[Queue(r, "honour_awarded", honour_id) for r in dict.fromkeys(residents)])


def plan_honour_revoked(honour_id: str, told: list[str]) -> Plan:
    """A queued award notice is dropped; a resident already told (sent, or in flight) is told of
    the revocation."""
    return Plan(
        queue=[Queue(r, "honour_revoked", honour_id) for r in dict.fromkeys(told)],
        drop=[Drop("honour_revoked", ("honour_awarded",), honour_id=honour_id)],
    )


# --- broadcasts (宣传) ----------------------------------------------------------------------

# A broadcast's category names the kind of its messages, and so the opt-out category it respects.
BROADCAST_KINDS = {"learning_week": "announcement", "course_promotion": "promotion"}
# One SMS segment of Chinese text is 70 characters; the signature (【平湖街道】) takes some of them.
SMS_SEGMENT_ZH = 70
MAX_MESSAGE_EN = 320


@dataclass(frozen=True)
class Audience:
    """Who a broadcast is for: residents in any of `community_ids` AND any of `audience_groups` AND
    interested in any of `themes` (enrolled in a course of the theme); an empty list does not narrow.
    `everyone` must be said explicitly: an audience with no criterion is refused, so a forgotten
    filter never messages the whole street."""

    community_ids: tuple[str, ...] = ()
    audience_groups: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    everyone: bool = False

    def check(self, communities: set[str], groups: set[str], themes: set[str]) -> None:
        for name, given, known in (
            ("audience.community_ids", self.community_ids, communities),
            ("audience.audience_groups", self.audience_groups, groups),
            ("audience.themes", self.themes, themes),
        ):
            unknown = sorted(set(given) - known)
            if unknown:
                raise RuleViolated(name, f"unknown {', '.join(unknown)}; one of {', '.join(sorted(known))}")
        narrowed = bool(self.community_ids or self.audience_groups or self.themes)
        if narrowed == self.everyone:
            raise RuleViolated(
                "audience", "name communities, audience groups or themes, or set everyone: true (not both)"
            )


def check_broadcast_texts(message_zh: str, message_en: str, signature_zh: str) -> None:
    """The Chinese text goes as one SMS segment with the street's signature; both texts say something."""
    for name, text in (("message_zh", message_zh), ("message_en", message_en)):
        if not text.strip():
            raise RuleViolated(name, "must not be empty")
    room = SMS_SEGMENT_ZH - len(signature_zh)
    if len(message_zh) > room:
        raise RuleViolated(
            "message_zh", f"{len(message_zh)} characters; at most {room} fit one SMS with the signature {signature_zh}"
        )
    if len(message_en) > MAX_MESSAGE_EN:
        raise RuleViolated("message_en", f"{len(message_en)} characters; at most {MAX_MESSAGE_EN}")


def broadcast_offset_s(position: int, rate_per_s: float) -> float:
    """When the `position`-th message of a broadcast becomes due, seconds after its creation: a
    broadcast of 100,000 messages is spread out so it neither floods the gateway nor starves the
    transactional messages (confirmations, reminders) due meanwhile."""
    return position / rate_per_s
