"""The street's calendar, and the id under which the whole street is reported beside its communities."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

STREET = "street"  # the community id under which the whole street is reported
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_day(at: datetime) -> date:
    # Days and periods follow the street's calendar, not UTC: a 07:30 class is on the same day.
    return at.astimezone(LOCAL_TZ).date()


def period_of(at: datetime | date) -> str:
    return str(at.year if isinstance(at, date) and not isinstance(at, datetime) else local_day(at).year)
