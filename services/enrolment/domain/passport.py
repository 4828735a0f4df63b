"""The learning passport (学习档案): what a resident attended and was awarded, and the credits
that earns under the street's rule. Pure Python, no I/O.

Two halves:
- the ledger: how the consumed events fold into attendance and honour entries (`Ledger.apply`,
  one event at a time, the meaning), and `BatchChanges`, the same fold for a batch as the writes
  the projector makes set-based (tests/unit/enrolment/test_passport_fold.py holds the two equal);
- the rule: `CreditsRule` (the street's credits file, reference/pinghu/credits.yaml, documents it)
  and `year_summaries`, applied when a passport is read, so a new rule needs no rebuild.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from hashlib import sha256
from zoneinfo import ZoneInfo

RECORDED = "learnstreet.activities.attendance.recorded.v1"
ADJUSTED = "learnstreet.activities.attendance.adjusted.v1"
AWARDED = "learnstreet.scoring.honour.awarded.v1"
REVOKED = "learnstreet.scoring.honour.revoked.v1"
# An erased resident's passport goes (docs/decisions/0010-erasure.md); their old attendance stays
# in the topics, so the projection drops it again on each resident.erased it reads.
ERASED = "learnstreet.enrolment.resident.erased.v1"
EVENT_TYPES = frozenset({RECORDED, ADJUSTED, AWARDED, REVOKED, ERASED})


# --- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceEntry:
    attendance_id: str
    resident_id: str
    session_id: str
    course_id: str
    venue_id: str
    community_id: str
    theme: str | None
    minutes: int
    scanned_at: datetime
    session_starts_at: datetime | None = None

    @property
    def held_at(self) -> datetime:
        """When the learning took place: the session's start, else the check-in."""
        return self.session_starts_at or self.scanned_at


@dataclass(frozen=True)
class HonourEntry:
    honour_id: str
    kind: str  # '' while only the revocation is known (a placeholder the award fills in)
    period: str
    recipient_kind: str
    recipient_id: str
    resident_ids: tuple[str, ...]  # the residents whose passport shows it
    community_id: str | None
    reason: str
    awarded_at: datetime | None
    revoked: bool = False
    revoke_reason: str = ""
    revoked_at: datetime | None = None

    @property
    def state(self) -> str:
        return "revoked" if self.revoked else "awarded"


def honour_residents(recipient_kind: str, recipient_id: str, resident_ids: Iterable[str]) -> tuple[str, ...]:
    """A resident's honour is theirs; a family's or employer's honour shows in the passports of
    the residents it names (the event's `resident_ids`)."""
    named = list(dict.fromkeys(resident_ids))
    if recipient_kind == "resident" and recipient_id not in named:
        named.insert(0, recipient_id)
    return tuple(named)


def attendance_entry(data) -> AttendanceEntry:
    return AttendanceEntry(
        attendance_id=data.attendance_id,
        resident_id=data.resident_id,
        session_id=data.session_id,
        course_id=data.course_id,
        venue_id=data.venue_id,
        community_id=data.community_id,
        theme=data.theme,
        minutes=data.minutes,
        scanned_at=data.scanned_at,
        session_starts_at=data.session_starts_at,
    )


def honour_entry(data, at: datetime | None) -> HonourEntry:
    return HonourEntry(
        honour_id=data.honour_id,
        kind=data.kind,
        period=data.period,
        recipient_kind=data.recipient_kind,
        recipient_id=data.recipient_id,
        resident_ids=honour_residents(data.recipient_kind, data.recipient_id, data.resident_ids),
        community_id=data.community_id,
        reason=data.reason,
        awarded_at=at,
    )


def revoked_placeholder(honour_id: str, reason: str, at: datetime | None) -> HonourEntry:
    return HonourEntry(honour_id, "", "", "", "", (), None, "", None, True, reason, at)


@dataclass
class Ledger:
    """All passports, folded event by event. The rules:
    - an attendance is recorded once (a redelivered recording changes nothing, not even minutes
      an adjustment set since);
    - an adjustment sets the attendance's minutes to its new total (activities sends totals);
      one for an attendance not recorded is ignored (same key, so it cannot overtake its record);
    - an honour is awarded once; a revocation wins over the award whatever their order."""

    attendance: dict[str, AttendanceEntry] = field(default_factory=dict)
    honours: dict[str, HonourEntry] = field(default_factory=dict)

    def apply(self, type_name: str, data, at: datetime | None = None) -> None:
        if type_name == RECORDED:
            self.attendance.setdefault(data.attendance_id, attendance_entry(data))
        elif type_name == ADJUSTED:
            if (known := self.attendance.get(data.attendance_id)) is not None:
                self.attendance[data.attendance_id] = replace(known, minutes=data.minutes)
        elif type_name == AWARDED:
            known = self.honours.get(data.honour_id)
            if known is None:
                self.honours[data.honour_id] = honour_entry(data, at)
            elif not known.kind:  # the revocation came first
                award = honour_entry(data, at)
                self.honours[data.honour_id] = replace(
                    award, revoked=True, revoke_reason=known.revoke_reason, revoked_at=known.revoked_at
                )
        elif type_name == REVOKED:
            known = self.honours.get(data.honour_id)
            if known is None:
                self.honours[data.honour_id] = revoked_placeholder(data.honour_id, data.reason, at)
            elif not known.revoked:
                self.honours[data.honour_id] = replace(known, revoked=True, revoke_reason=data.reason, revoked_at=at)


@dataclass
class BatchChanges:
    """A batch's effect as set-based writes, equal to `Ledger.apply` of its events in order onto
    whatever was stored before: insert-if-absent recordings, then last adjustment per attendance,
    then insert-if-absent awards, then first revocation per honour (a stored revocation stays)."""

    recorded: dict[str, AttendanceEntry] = field(default_factory=dict)
    adjusted: dict[str, int] = field(default_factory=dict)
    awarded: dict[str, HonourEntry] = field(default_factory=dict)
    revoked: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Iterable[tuple[str, object, datetime | None]]) -> BatchChanges:
        changes = cls()
        for type_name, data, at in events:
            if type_name == RECORDED:
                changes.recorded.setdefault(data.attendance_id, attendance_entry(data))
            elif type_name == ADJUSTED:
                # Recorded before (earlier batch or earlier in this one: same key, same partition).
                changes.adjusted[data.attendance_id] = data.minutes
            elif type_name == AWARDED:
                changes.awarded.setdefault(data.honour_id, honour_entry(data, at))
            elif type_name == REVOKED:
                changes.revoked.setdefault(data.honour_id, (data.reason, at))
        return changes


# --- the credits rule -----------------------------------------------------------------------------


class CreditsRuleError(ValueError):
    """The credits file says something the rule cannot mean; `field` names the entry."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name


@dataclass(frozen=True)
class CreditsRule:
    """The street's credits rule (the credits file documents it for people)."""

    version: str
    timezone: str
    hours_per_credit: Decimal
    step: Decimal
    min_minutes: int
    cap_per_theme: Decimal
    caps: Mapping[str, Decimal]
    cap_per_year: Decimal | None

    @classmethod
    def from_mapping(cls, data: Mapping) -> CreditsRule:
        def positive(name: str, value) -> Decimal:
            try:
                number = Decimal(str(value))
            except Exception:
                raise CreditsRuleError(name, f"{value!r} is not a number") from None
            if not number.is_finite() or number <= 0:
                raise CreditsRuleError(name, f"must be positive, not {value!r}")
            return number

        unknown = set(data) - {
            "version", "timezone", "hours_per_credit", "step", "min_minutes", "cap_per_theme", "caps", "cap_per_year"
        }  # fmt: skip
        if unknown:
            raise CreditsRuleError(sorted(unknown)[0], "unknown entry")
        timezone = str(data.get("timezone", "Asia/Shanghai"))
        try:
            ZoneInfo(timezone)
        except Exception:
            raise CreditsRuleError("timezone", f"unknown time zone {timezone!r}") from None
        min_minutes = data.get("min_minutes", 0)
        if not isinstance(min_minutes, int) or min_minutes < 0:
            raise CreditsRuleError("min_minutes", f"must be a whole number >= 0, not {min_minutes!r}")
        caps = data.get("caps") or {}
        if not isinstance(caps, Mapping):
            raise CreditsRuleError("caps", "must map theme ids to caps")
        cap_per_year = data.get("cap_per_year")
        return cls(
            version=str(data.get("version", "")),
            timezone=timezone,
            hours_per_credit=positive("hours_per_credit", data.get("hours_per_credit")),
            step=positive("step", data.get("step", 1)),
            min_minutes=min_minutes,
            cap_per_theme=positive("cap_per_theme", data.get("cap_per_theme")),
            caps={str(theme): positive(f"caps.{theme}", cap) for theme, cap in caps.items()},
            cap_per_year=None if cap_per_year is None else positive("cap_per_year", cap_per_year),
        )

    def cap(self, theme: str) -> Decimal:
        return self.caps.get(theme, self.cap_per_theme)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def year_of(self, at: datetime) -> int:
        return at.astimezone(self.zone).year

    def stepped_credits(self, minutes: int) -> Decimal:
        """Step 3 of the rule: credits of eligible minutes, rounded down to a multiple of `step`."""
        raw = Decimal(minutes) / Decimal(60) / self.hours_per_credit
        return (raw / self.step).to_integral_value(rounding=ROUND_FLOOR) * self.step

    def theme_credits(self, theme: str, minutes: int) -> Decimal:
        """Steps 3 and 4: credits of one theme's eligible minutes in one year, capped."""
        return min(self.stepped_credits(minutes), self.cap(theme))

    def describe(self) -> dict:
        return {
            "version": self.version,
            "hours_per_credit": float(self.hours_per_credit),
            "step": float(self.step),
            "min_minutes": self.min_minutes,
            "cap_per_theme": float(self.cap_per_theme),
            "caps": {t: float(c) for t, c in sorted(self.caps.items())},
            "cap_per_year": None if self.cap_per_year is None else float(self.cap_per_year),
            "timezone": self.timezone,
        }


UNTHEMED = "other"  # attendance whose course has no known theme


@dataclass(frozen=True)
class ThemeYear:
    theme: str
    minutes: int  # all attended minutes
    credited_minutes: int  # of attendances long enough to count
    credits: Decimal
    capped: bool


@dataclass(frozen=True)
class YearSummary:
    year: int
    minutes: int
    attendances: int
    credits: Decimal
    capped: bool  # the year's cap cut the sum
    themes: tuple[ThemeYear, ...]

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.minutes) / Decimal(60)).quantize(Decimal("0.01"))


def year_summaries(entries: Iterable[tuple[AttendanceEntry, str | None]], rule: CreditsRule) -> list[YearSummary]:
    """Hours and credits per year, newest first. `entries` pairs each attendance with its theme
    (the event's, else the course's in the catalogue; None: unthemed)."""
    minutes: dict[int, dict[str, list[int]]] = {}
    for entry, theme in entries:
        year = rule.year_of(entry.held_at)
        per_theme = minutes.setdefault(year, {}).setdefault(theme or UNTHEMED, [0, 0, 0])
        per_theme[0] += entry.minutes
        per_theme[2] += 1
        if entry.minutes >= rule.min_minutes:
            per_theme[1] += entry.minutes
    out = []
    for year in sorted(minutes, reverse=True):
        themes = []
        for theme, (total, credited, _) in sorted(minutes[year].items()):
            uncapped = rule.stepped_credits(credited)
            credits = min(uncapped, rule.cap(theme))
            themes.append(ThemeYear(theme, total, credited, credits, capped=uncapped > credits))
        summed = sum((t.credits for t in themes), Decimal(0))
        year_credits = summed if rule.cap_per_year is None else min(summed, rule.cap_per_year)
        out.append(
            YearSummary(
                year=year,
                minutes=sum(t.minutes for t in themes),
                attendances=sum(v[2] for v in minutes[year].values()),
                credits=year_credits,
                capped=year_credits < summed,
                themes=tuple(themes),
            )
        )
    return out


# --- the certificate's verification code ----------------------------------------------------------


def verification_mac(secret: bytes, resident_id: str, year: int, minutes: int) -> str:
    """An HMAC of what a certificate of learning certifies, with the street's secret: only the
    street can make one, and changing the resident, the year or the minutes breaks it."""
    message = f"learnstreet-certificate:v1:{resident_id}:{year}:{minutes}".encode()
    return hmac.new(secret, message, sha256).hexdigest()[:20]


def certificate_code(secret: bytes, resident_id: str, year: int, minutes: int) -> str:
    """`<year>-<minutes>-<mac>-<resident id>`: the code carries what it certifies, so that it can be
    verified with the secret alone (no stored certificates; the resident id may hold dashes, the
    other parts cannot)."""
    return f"{year}-{minutes}-{verification_mac(secret, resident_id, year, minutes)}-{resident_id}"


@dataclass(frozen=True)
class CertificateClaim:
    year: int
    minutes: int
    mac: str
    resident_id: str


def parse_certificate_code(code: str) -> CertificateClaim | None:
    parts = code.split("-", 3)
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[3]:
        return None
    if len(parts[2]) != 20 or any(c not in "0123456789abcdef" for c in parts[2]):
        return None
    return CertificateClaim(int(parts[0]), int(parts[1]), parts[2], parts[3])


def genuine(secret: bytes, claim: CertificateClaim) -> bool:
    expected = verification_mac(secret, claim.resident_id, claim.year, claim.minutes)
    return hmac.compare_digest(expected, claim.mac)
