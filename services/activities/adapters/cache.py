"""In-memory copies of what the check-in path reads for every scan (kiosks, sessions, courses,
residents, seats), loaded from the database at start and updated only after the transaction that
changed them committed, so they stay equal to the database across restarts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from services.activities.domain.model import CHECKIN_OPENS_BEFORE, MAX_SESSION_LENGTH, Session
from shared.events.catalogue import AudienceGroup, ProviderKind

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ResidentInfo:
    community_id: str
    audience_group: AudienceGroup
    volunteer: bool


@dataclass(frozen=True)
class CourseInfo:
    theme: str
    provider_kind: ProviderKind | None
    cancelled: bool


class Caches:
    def __init__(self) -> None:
        self.kiosk_venue: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        # Sessions per venue and UTC start day: a scan looks at a few days' sessions, not a venue's
        # whole history.
        self.sessions_by_venue_day: dict[tuple[str, date], dict[str, Session]] = defaultdict(dict)
        self.courses: dict[str, CourseInfo] = {}
        self.residents: dict[str, ResidentInfo] = {}
        self.enrolled: dict[str, set[str]] = defaultdict(set)  # session -> residents with a confirmed seat
        self.walk_ins: dict[str, int] = defaultdict(int)  # session -> walk-in attendances recorded

    async def load(self, conn: asyncpg.Connection) -> None:
        self.kiosk_venue = {
            r["kiosk_id"]: r["venue_id"] for r in await conn.fetch("SELECT kiosk_id, venue_id FROM kiosks")
        }
        self.sessions.clear()
        self.sessions_by_venue_day.clear()
        for r in await conn.fetch(
            """SELECT session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                      elderly_priority_until, cancelled FROM sessions"""
        ):
            self.put_session(Session(**dict(r)))
        self.courses = {
            r["course_id"]: CourseInfo(
                r["theme"], r["provider_kind"] and ProviderKind(r["provider_kind"]), r["cancelled"]
            )
            for r in await conn.fetch("SELECT course_id, theme, provider_kind, cancelled FROM courses")
        }
        self.residents = {
            r["resident_id"]: ResidentInfo(r["community_id"], AudienceGroup(r["audience_group"]), r["volunteer"])
            for r in await conn.fetch("SELECT resident_id, community_id, audience_group, volunteer FROM residents")
        }
        self.enrolled.clear()
        for r in await conn.fetch("SELECT session_id, resident_id FROM enrolment_seats WHERE state = 'confirmed'"):
            self.enrolled[r["session_id"]].add(r["resident_id"])
        self.walk_ins.clear()
        for r in await conn.fetch("SELECT session_id, count(*) AS n FROM attendance WHERE walk_in GROUP BY session_id"):
            self.walk_ins[r["session_id"]] = r["n"]

    def put_session(self, session: Session) -> None:
        old = self.sessions.get(session.session_id)
        if old is not None:
            self.sessions_by_venue_day[(old.venue_id, _day(old.starts_at))].pop(session.session_id, None)
        self.sessions[session.session_id] = session
        self.sessions_by_venue_day[(session.venue_id, _day(session.starts_at))][session.session_id] = session

    def sessions_near(self, venue_id: str, at: datetime) -> Iterator[Session]:
        """Sessions at the venue that may have `at` in their window (started up to a day before it,
        or starting within the early check-in window after it)."""
        first = _day(at - MAX_SESSION_LENGTH)
        last = _day(at + CHECKIN_OPENS_BEFORE)
        day = first
        while day <= last:
            bucket = self.sessions_by_venue_day.get((venue_id, day))
            if bucket:
                yield from bucket.values()
            day += _DAY

    def set_kiosks(self, venue_id: str, kiosk_ids: list[str]) -> None:
        for kiosk, venue in list(self.kiosk_venue.items()):
            if venue == venue_id and kiosk not in kiosk_ids:
                del self.kiosk_venue[kiosk]
        for kiosk in kiosk_ids:
            self.kiosk_venue[kiosk] = venue_id

    def confirmed(self, session_id: str) -> int:
        return len(self.enrolled.get(session_id, ()))


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()
