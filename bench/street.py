"""A generated street the services know, and the records the bench sends about it.

Every id carries the run id, so runs never collide with each other or with tests. Residents ×
sessions give the distinct (resident, session) pairs: each pair is at most one attendance, so
each stage gets its own slice of sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from bench import env
from shared.events.catalogue import AttendanceRecorded, AudienceGroup
from shared.events.envelope import envelop
from shared.reference import load_reference

BENCH_NS = uuid.UUID("6a1d3c52-4a8e-4f0e-9d8f-1b2e3c4d5e6f")
GROUPS = [g.value for g in AudienceGroup]


def communities() -> list[str]:
    return list(load_reference().communities)


@dataclass
class Street:
    run: str
    residents: list[tuple[str, str, str]]  # (resident_id, community_id, audience_group)
    venues: list[tuple[str, str, str]]  # (venue_id, community_id, kiosk_id)
    course_id: str
    sessions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # stage → [(session_id, venue_id)]
    starts_at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(minutes=10))
    ends_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(hours=4))

    @property
    def all_sessions(self) -> list[tuple[str, str]]:
        return [s for stage in self.sessions.values() for s in stage]

    def session_ids(self, stage: str) -> list[str]:
        return [s for s, _ in self.sessions[stage]]

    def __post_init__(self) -> None:
        self.kiosk_of = {v: k for v, _, k in self.venues}
        self.community_of = {v: c for v, c, _ in self.venues}

    def pairs(self, stage: str) -> Iterator[tuple[tuple[str, str, str], tuple[str, str]]]:
        """(resident, session) pairs of a stage, resident-major within each session so that a batch
        spreads over many keys and partitions as a real street's check-ins do."""
        for session in self.sessions[stage]:
            for resident in self.residents:
                yield resident, session


def plan(run: str, *, residents: int, stage_pairs: dict[str, int], venues_per_community: int = 2) -> Street:
    comms = communities()
    people = [
        (f"bench-{run}-r{i:05d}", comms[i % len(comms)], GROUPS[(i // len(comms)) % len(GROUPS)])
        for i in range(residents)
    ]
    venues = [(f"bench-{run}-v{c}-{k}", c, f"bench-{run}-k{c}-{k}") for c in comms for k in range(venues_per_community)]
    street = Street(run=run, residents=people, venues=venues, course_id=f"bench-{run}-course")
    cycle = itertools.cycle(venues)
    for stage, pairs in stage_pairs.items():
        count = max(1, math.ceil(pairs / residents))
        street.sessions[stage] = [(f"bench-{run}-{stage}-s{i:04d}", next(cycle)[0]) for i in range(count)]
    return street


# --- records ------------------------------------------------------------------------------------


def checkin(street: Street, resident: tuple[str, str, str], session: tuple[str, str], at: datetime) -> bytes:
    """One kiosk scan as the public contract has it (KioskCheckin JSON, ~250 bytes)."""
    session_id, venue_id = session
    return orjson.dumps(
        {
            "checkin_id": str(uuid.uuid5(BENCH_NS, f"{resident[0]}\x1f{session_id}")),
            "kiosk_id": street.kiosk_of[venue_id],
            "venue_id": venue_id,
            "resident_id": resident[0],
            "session_id": session_id,
            "scanned_at": at.isoformat(),
            "direction": "in",
        }
    )


def attendance(street: Street, resident: tuple[str, str, str], session: tuple[str, str], at: datetime):
    """An AttendanceRecorded event for a pair, enveloped as activities would publish it."""
    session_id, venue_id = session
    data = AttendanceRecorded(
        attendance_id=str(uuid.uuid5(BENCH_NS, f"attendance\x1f{resident[0]}\x1f{session_id}")),
        checkin_id=uuid.uuid5(BENCH_NS, f"{resident[0]}\x1f{session_id}"),
        resident_id=resident[0],
        session_id=session_id,
        course_id=street.course_id,
        venue_id=venue_id,
        community_id=street.community_of[venue_id],
        resident_community_id=resident[1],
        audience_group=AudienceGroup(resident[2]),
        theme="safety",
        minutes=int((street.ends_at - street.starts_at).total_seconds() // 60),
        scanned_at=at,
        session_starts_at=street.starts_at,
        walk_in=True,
    )
    return envelop(
        data, source="learnstreet/activities", event_id=uuid.uuid5(BENCH_NS, f"recorded\x1f{data.attendance_id}")
    )


# --- setting the street up through the services' own APIs ----------------------------------------


async def _post_all(http, path: str, bodies: list[dict], concurrency: int = 16) -> None:
    queue = list(bodies)
    failures: list[str] = []

    async def worker() -> None:
        while queue:
            body = queue.pop()
            response = await env.patiently(lambda p=path, b=body: http.post(p, json=b))
            if response.status_code not in (200, 201, 409):
                failures.append(f"{path} {response.status_code}: {response.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{len(failures)} set-up requests failed; first: {failures[0]}")


async def set_up(street: Street) -> None:
    """Venues, a course and sessions through activities' API; residents through enrolment's API.
    The services then learn each other's through the events, as in production."""
    async with env.client("activities") as act, env.client("enrolment") as enr:
        await _post_all(
            act,
            "/v1/venues",
            [
                {
                    "venue_id": v,
                    "community_id": c,
                    "name_zh": f"基准场地 {v}",
                    "name_en": f"Bench venue {v}",
                    "venue_type": "community_school",
                    "capacity": 10_000,
                    "kiosk_ids": [k],
                }
                for v, c, k in street.venues
            ],
        )
        await _post_all(
            act,
            "/v1/courses",
            [
                {
                    "course_id": street.course_id,
                    "title_zh": "基准课程",
                    "title_en": "Bench course",
                    "theme": "safety",
                    "audiences": [],
                }
            ],
            concurrency=1,
        )
        sessions = [
            {
                "session_id": session_id,
                "venue_id": venue_id,
                "starts_at": street.starts_at.isoformat(),
                "ends_at": street.ends_at.isoformat(),
                "capacity": max(len(street.residents), 1),
            }
            for session_id, venue_id in street.all_sessions
        ]
        await _post_all(act, f"/v1/courses/{street.course_id}/sessions", sessions)
        await _post_all(
            enr,
            "/v1/residents",
            [{"resident_id": r, "community_id": c, "audience_group": g} for r, c, g in street.residents],
        )


async def wait_known(street: Street, timeout_s: float = 180.0) -> None:
    """Until activities and scoring know every bench resident and session (learnt from events)."""
    prefix = f"bench-{street.run}-%"
    want_residents, want_sessions = len(street.residents), len(street.all_sessions)
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: dict[str, tuple[int, int]] = {}
    while asyncio.get_running_loop().time() < deadline:
        done = True
        for service in ("activities", "scoring", "enrolment"):
            conn = await env.database(service)
            try:
                r = await conn.fetchval("SELECT count(*) FROM residents WHERE resident_id LIKE $1", prefix)
                s = await conn.fetchval("SELECT count(*) FROM sessions WHERE session_id LIKE $1", prefix)
            finally:
                await conn.close()
            last[service] = (r, s)
            done = done and r >= want_residents and s >= want_sessions
        if done:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"street not known within {timeout_s:.0f} s: (residents, sessions) per service {last}")
