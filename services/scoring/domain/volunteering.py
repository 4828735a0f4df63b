"""Volunteer service hours (志愿服务时长), kept apart from teaching hours.

A volunteer serves at a venue or a session (an event): an operator, or the volunteer with their own
resident token, records who, where, which day, how many hours and what was done. A coordinator (an
operator, or a community worker of the venue's community) confirms the record or rejects it with a
reason; only confirmed hours count, towards Excellent Volunteer (`excellent_volunteer`).

    recorded ─(confirmed)─► confirmed
    recorded ─(rejected, with a reason)─► rejected
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.scoring.domain.selection import Refused

RECORDED = "recorded"
CONFIRMED = "confirmed"
REJECTED = "rejected"
STATES = (RECORDED, CONFIRMED, REJECTED)
# States whose hours stand against the 24 hours of a day: a rejected record frees its hours.
HOLDS_HOURS = (RECORDED, CONFIRMED)

HOURS_IN_A_DAY = 24
# Service is recorded while people remember it: within a year of the day served.
OLDEST_DAYS = 366


def check_service(hours: float, day: date, today: date, hours_already_that_day: float) -> None:
    """Refuses (422 with the field) hours that are not a positive part of a day, a day in the future
    or more than a year ago, and a day whose recorded hours would pass 24."""
    if not hours > 0:
        raise Refused(f"hours must be more than 0, not {hours:g}", field="hours", conflict=False)
    if hours > HOURS_IN_A_DAY:
        raise Refused(f"a day has {HOURS_IN_A_DAY} hours, not {hours:g}", field="hours", conflict=False)
    if day > today:
        raise Refused(f"{day} is in the future (today is {today})", field="day", conflict=False)
    if day < today - timedelta(days=OLDEST_DAYS):
        raise Refused(f"{day} is more than {OLDEST_DAYS} days ago", field="day", conflict=False)
    if hours_already_that_day + hours > HOURS_IN_A_DAY:
        raise Refused(
            f"{hours_already_that_day:g} hours are already recorded for this volunteer on {day}; "
            f"{hours:g} more would pass {HOURS_IN_A_DAY}",
            field="hours", conflict=False,
        )  # fmt: skip


def decide(state: str, decision: str, reason: str | None) -> str:
    """A coordinator's decision on a recorded service; a rejection says why. 409 once decided."""
    if state != RECORDED:
        raise Refused(f"the service is already {state}", field="state")
    if decision == REJECTED:
        if not (reason or "").strip():
            raise Refused("a rejection needs a reason", field="reason", conflict=False)
        return REJECTED
    if decision != CONFIRMED:
        raise Refused(f"decision must be confirmed or rejected, not {decision!r}", field="decision", conflict=False)
    return CONFIRMED


@dataclass(frozen=True)
class VolunteerRule:
    """The indicator file's `honours.excellent_volunteer`: hours taught (sessions of volunteers'
    courses) and confirmed service hours in the year. `either`: true, a volunteer qualifies by one
    of the two; false, by both."""

    min_teaching_hours: float = 20
    min_service_hours: float = 40
    either: bool = True


def excellent_volunteer(teaching_hours: float, service_hours: float, rule: VolunteerRule) -> bool:
    """Whether a volunteer is a candidate for Excellent Volunteer (优秀志愿者); the SQL of the rule pass
    (adapters/repository.py `award_rule_honours`) computes the same."""
    taught = teaching_hours >= rule.min_teaching_hours
    served = service_hours >= rule.min_service_hours
    return (taught or served) if rule.either else (taught and served)
