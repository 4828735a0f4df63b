"""The evaluation period (a calendar year, Asia/Shanghai) and its close (issue 14).

A period stays open for late data until its close date, set in the indicator file (`periods:
{close_after_days: N}`, or an explicit date per period under `close:`): attendance of last year
that syncs in January still counts in last year and leads to last year's honours. From the close
date on, the period's figures are frozen (a stored snapshot) and attendance whose session lies in
the closed period is counted on the day it arrives, in the arrival's period, with a note
(`late_counted`) on the values it changes.

Arrival is the attendance event's own time, not the clock of whoever applies it, so the live
consumer and a rebuild that replays the topic a year later count every event on the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from services.scoring.domain.street import period_of

# Metrics whose numerator counts attendance, so a late attendance changes them.
LATE_AFFECTED = frozenset({
    "participation_rate_4w", "participation_rate_12m", "learning_hours_per_resident", "audience_coverage",
    "venue_utilisation", "volunteer_teaching_hours",
})  # fmt: skip
DEFAULT_CLOSE_AFTER_DAYS = 31
# The first year the street's own records (and so a past award citing them) may cover: older
# "records" are typing errors, such as a year 0001 that would otherwise pass as "past".
DEFAULT_FIRST_PERIOD = 2010


@dataclass(frozen=True)
class PeriodRules:
    close_after_days: int = DEFAULT_CLOSE_AFTER_DAYS
    closes: dict[str, date] = field(default_factory=dict)  # period → explicit close date
    first: int = DEFAULT_FIRST_PERIOD

    def closes_on(self, period: str) -> date:
        """The first day the period is closed."""
        return self.closes.get(period) or date(int(period) + 1, 1, 1) + timedelta(days=self.close_after_days)

    def closed(self, period: str, today: date) -> bool:
        return today >= self.closes_on(period)

    def counted_day(self, session_day: date, arrival_day: date) -> tuple[date, bool]:
        """The day an attendance counts on, and whether it is late: its session's day, unless the
        session's period had closed when it arrived; then the arrival day."""
        if arrival_day > session_day and self.closed(period_of(session_day), arrival_day):
            return arrival_day, True
        return session_day, False

    def open_periods(self, today: date) -> list[str]:
        """The periods that still take data on `today`: its own, and the previous one until its close."""
        current = period_of(today)
        previous = str(today.year - 1)
        return [current] if self.closed(previous, today) else [previous, current]

    def to_freeze(self, today: date) -> str | None:
        """The latest closed period on `today` (whose snapshot must exist)."""
        previous = str(today.year - 1)
        return previous if self.closed(previous, today) else None


def parse_periods(raw: object) -> PeriodRules:
    """`periods: {close_after_days: N, close: {"2025": 2026-02-15}, first: 2010}`; ValueError says what is wrong."""
    if raw is None:
        return PeriodRules()
    if not isinstance(raw, dict) or set(raw) - {"close_after_days", "close", "first"}:
        raise ValueError(f"'periods' takes close_after_days, close and first, got {raw!r}")
    first = raw.get("first", DEFAULT_FIRST_PERIOD)
    if isinstance(first, bool) or not isinstance(first, int) or not 1949 <= first <= 2100:
        raise ValueError(f"periods first must be a year 1949–2100, got {first!r}")
    days = raw.get("close_after_days", DEFAULT_CLOSE_AFTER_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 366:
        raise ValueError(f"periods close_after_days must be a whole number of days 0–366, got {days!r}")
    closes: dict[str, date] = {}
    for period, day in (raw.get("close") or {}).items():
        if not str(period).isdigit() or not isinstance(day, date) or day.year <= int(period):
            raise ValueError(f"periods close {period!r}: a date after the year ends, got {day!r}")
        closes[str(period)] = day
    return PeriodRules(days, closes, first)


def late_note(n: int, period: str, closes_on: date) -> dict[str, str]:
    """What a value affected by late attendance says about it."""
    previous = str(int(period) - 1)
    zh = f"含 {n} 条迟到考勤：其课程所属年度已结账（{previous} 年度于 {closes_on} 结账），按到达日计入 {period} 年度。"
    en = (f"includes {n} late attendance(s) of sessions in a closed period ({previous} closed on {closes_on}), "
          f"counted in {period}, when they arrived.")  # fmt: skip
    return {"late_zh": zh, "late_en": en}


def annotate_late(view: dict, n: int, period: str, rules: PeriodRules) -> dict:
    """Marks the index `view` and its leaves that count attendance with `late_counted` and the note."""
    view["late_counted"] = n
    if not n:
        return view
    note = late_note(n, period, rules.closes_on(str(int(period) - 1)))
    view.update(note)
    for aspect in view["aspects"]:
        for leaf in aspect["indicators"]:
            if leaf.get("metric") in LATE_AFFECTED:
                leaf.update(late_counted=n, **note)
    return view
