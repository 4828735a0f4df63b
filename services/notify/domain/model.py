"""The notify domain: what residents receive, when and on which channel. Pure Python, no I/O."""

from __future__ import annotations

import random
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
}
KINDS = tuple(KIND_CATEGORY)
REMINDERS: dict[str, timedelta] = {"reminder_24h": timedelta(hours=24), "reminder_2h": timedelta(hours=2)}


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
class Fail:
    reason: str


@dataclass(frozen=True)
class Suppress:
    reason: str


Decision = Send | Defer | AwaitContact | Fail | Suppress


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
    quiet = default_quiet
    if contact.quiet_hours_start is not None and contact.quiet_hours_end is not None:
        quiet = QuietHours.parse(contact.quiet_hours_start, contact.quiet_hours_end, default_quiet.tz)
    if quiet.contains(now) and not is_urgent(pending.kind, pending.session_starts_at, now, quiet):
        return Defer(quiet.window_end(now))
    address = contact.address(channel)
    assert address is not None
    return Send(channel, address)


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


def reminder_subject(session_id: str, starts_at: datetime) -> str:
    # The start time is part of the subject: a rescheduled session gets fresh reminders, while a
    # replay of the same schedule maps to the same key.
    return f"{session_id}@{starts_at.astimezone(UTC):%Y%m%dT%H%MZ}"


def change_subject(session_id: str, starts_at: datetime, ends_at: datetime, venue_id: str) -> str:
    return f"{session_id}@{starts_at.astimezone(UTC):%Y%m%dT%H%MZ}-{ends_at.astimezone(UTC):%H%MZ}@{venue_id}"


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
