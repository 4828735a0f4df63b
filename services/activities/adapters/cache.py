"""In-memory copies of what the check-in path reads for every scan (kiosks, sessions, courses,
residents, confirmed seats), each instance its own: loaded from the database, updated after the
transactions that changed them committed (this instance's directly, other instances' through
adapters/cache_sync.py), and looked up in the database for what a batch misses. Walk-in seats
are not cached: they are counted in the database (repository.lock_walk_ins)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from services.activities.domain.model import CHECKIN_OPENS_BEFORE, MAX_SESSION_LENGTH, Closing, Session
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


_SESSION_SQL = """SELECT session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                          elderly_priority_until, cancelled FROM sessions"""


def _course(r) -> CourseInfo:
    return CourseInfo(r["theme"], r["provider_kind"] and ProviderKind(r["provider_kind"]), r["cancelled"])


def _resident(r) -> ResidentInfo:
    return ResidentInfo(r["community_id"], AudienceGroup(r["audience_group"]), r["volunteer"])


class Caches:
    """What the check-in path reads per scan. Every instance keeps its own copy: a full `load` at
    start and whenever its change listener (re)connects, `refresh` of the entries another
    instance's transaction announced (adapters/cache_sync.py), and the `lookup_*` of a batch's
    misses, so that nothing is rejected or parked only because this copy is behind."""

    def __init__(self) -> None:
        self.kiosk_venue: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        # Sessions per venue and UTC start day: a scan looks at a few days' sessions, not a venue's
        # whole history.
        self.sessions_by_venue_day: dict[tuple[str, date], dict[str, Session]] = defaultdict(dict)
        self.courses: dict[str, CourseInfo] = {}
        self.residents: dict[str, ResidentInfo] = {}
        # Kiosk cards (enrolment.resident-cards) by keyed digest: digest → resident id, and back.
        self.cards: dict[str, str] = {}
        self.card_of: dict[str, str] = {}
        self.enrolled: dict[str, set[str]] = defaultdict(set)  # session -> residents with a confirmed seat
        self.venue_closings: dict[str, Closing] = {}  # a venue's latest closing (check-ins refused while closed)

    async def load(self, conn: asyncpg.Connection) -> None:
        """Everything, read first and swapped in at once: a batch judged meanwhile (between the
        awaits) sees the old copy whole, never a half-cleared one."""
        fresh = Caches()
        fresh.kiosk_venue = {
            r["kiosk_id"]: r["venue_id"] for r in await conn.fetch("SELECT kiosk_id, venue_id FROM kiosks")
        }
        for r in await conn.fetch(_SESSION_SQL):
            fresh.put_session(Session(**dict(r)))
        fresh.venue_closings = {
            r["venue_id"]: Closing(r["closed_on"], r["reopened_on"], r["reason"])
            for r in await conn.fetch("SELECT venue_id, closed_on, reopened_on, reason FROM venue_closings")
        }
        fresh.courses = {
            r["course_id"]: _course(r)
            for r in await conn.fetch("SELECT course_id, theme, provider_kind, cancelled FROM courses")
        }
        fresh.residents = {
            r["resident_id"]: _resident(r)
            for r in await conn.fetch("SELECT resident_id, community_id, audience_group, volunteer FROM residents")
        }
        for r in await conn.fetch("SELECT card_digest, resident_id FROM resident_cards"):
            fresh.cards[r["card_digest"]] = r["resident_id"]
            fresh.card_of[r["resident_id"]] = r["card_digest"]
        for r in await conn.fetch("SELECT session_id, resident_id FROM enrolment_seats WHERE state = 'confirmed'"):
            fresh.enrolled[r["session_id"]].add(r["resident_id"])
        self.__dict__.update(fresh.__dict__)

    # --- entries another instance changed (announced kinds, see cache_sync.KINDS) ----------------

    async def refresh(self, conn: asyncpg.Connection, kind: str, ids: list[str]) -> None:
        if kind == "venue":
            await self.refresh_venues(conn, ids)
        elif kind == "session":
            await self.lookup_sessions(conn, ids)
        elif kind == "course":
            await self.refresh_courses(conn, ids)
        elif kind == "resident":
            await self.lookup_residents(conn, ids)
        elif kind == "seats":
            await self.refresh_enrolled(conn, ids)
        elif kind == "card":
            await self.refresh_cards(conn, ids)

    async def refresh_cards(self, conn: asyncpg.Connection, resident_ids: list[str]) -> None:
        """The cards of these residents as stored now (assigned, changed, removed or erased)."""
        for resident_id in resident_ids:
            card = self.card_of.pop(resident_id, None)
            if card is not None and self.cards.get(card) == resident_id:
                del self.cards[card]
        await self.lookup_cards(conn, resident_ids=resident_ids)

    async def lookup_cards(
        self, conn: asyncpg.Connection, *, resident_ids: Sequence[str] = (), digests: Sequence[str] = ()
    ) -> None:
        for r in await conn.fetch(
            "SELECT card_digest, resident_id FROM resident_cards"
            " WHERE resident_id = ANY($1::text[]) OR card_digest = ANY($2::text[])",
            list(resident_ids),
            list(digests),
        ):
            self.cards[r["card_digest"]] = r["resident_id"]
            self.card_of[r["resident_id"]] = r["card_digest"]

    async def refresh_venues(self, conn: asyncpg.Connection, venue_ids: list[str]) -> None:
        rows = await conn.fetch("SELECT kiosk_id, venue_id FROM kiosks WHERE venue_id = ANY($1::text[])", venue_ids)
        by_venue: dict[str, list[str]] = {v: [] for v in venue_ids}
        for r in rows:
            by_venue[r["venue_id"]].append(r["kiosk_id"])
        for venue_id, kiosks in by_venue.items():
            self.set_kiosks(venue_id, kiosks)
        for r in await conn.fetch(
            "SELECT venue_id, closed_on, reopened_on, reason FROM venue_closings WHERE venue_id = ANY($1::text[])",
            venue_ids,
        ):
            self.venue_closings[r["venue_id"]] = Closing(r["closed_on"], r["reopened_on"], r["reason"])

    async def refresh_courses(self, conn: asyncpg.Connection, course_ids: list[str]) -> None:
        for r in await conn.fetch(
            "SELECT course_id, theme, provider_kind, cancelled FROM courses WHERE course_id = ANY($1::text[])",
            course_ids,
        ):
            self.courses[r["course_id"]] = _course(r)

    async def refresh_enrolled(self, conn: asyncpg.Connection, session_ids: list[str]) -> None:
        found: dict[str, set[str]] = {s: set() for s in session_ids}
        for r in await conn.fetch(
            """SELECT session_id, resident_id FROM enrolment_seats
               WHERE session_id = ANY($1::text[]) AND state = 'confirmed'""",
            session_ids,
        ):
            found[r["session_id"]].add(r["resident_id"])
        self.enrolled.update(found)

    # --- a batch's misses: one query per kind -------------------------------------------------------

    async def lookup_kiosks(self, conn: asyncpg.Connection, kiosk_ids: list[str]) -> None:
        rows = await conn.fetch("SELECT kiosk_id, venue_id FROM kiosks WHERE kiosk_id = ANY($1::text[])", kiosk_ids)
        found = {r["kiosk_id"]: r["venue_id"] for r in rows}
        for kiosk in kiosk_ids:
            if kiosk in found:
                self.kiosk_venue[kiosk] = found[kiosk]
            else:
                self.kiosk_venue.pop(kiosk, None)

    async def lookup_residents(self, conn: asyncpg.Connection, resident_ids: list[str]) -> None:
        for r in await conn.fetch(
            """SELECT resident_id, community_id, audience_group, volunteer FROM residents
               WHERE resident_id = ANY($1::text[])""",
            resident_ids,
        ):
            self.residents[r["resident_id"]] = _resident(r)

    async def lookup_sessions(self, conn: asyncpg.Connection, session_ids: list[str]) -> None:
        for r in await conn.fetch(_SESSION_SQL + " WHERE session_id = ANY($1::text[])", session_ids):
            self.put_session(Session(**dict(r)))

    async def lookup_sessions_near(self, conn: asyncpg.Connection, venue_ids: list[str], at: list[datetime]) -> None:
        """Sessions at these venues that may have any of the times `at` in their window."""
        for r in await conn.fetch(
            _SESSION_SQL + " WHERE venue_id = ANY($1::text[]) AND starts_at BETWEEN $2 AND $3",
            venue_ids,
            min(at) - MAX_SESSION_LENGTH,
            max(at) + CHECKIN_OPENS_BEFORE,
        ):
            self.put_session(Session(**dict(r)))

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


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()
