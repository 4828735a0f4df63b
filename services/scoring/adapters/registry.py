"""SQL of the organisations registry, knowledge competitions and volunteer service hours (migration
0010); honour rows themselves go through adapters/repository.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

# Two-key advisory locks: this class apart from the single-key ones (leader, rebuild) and the others.
VOLUNTEER_DAY_LOCK = 0x5C0_140

# --- organisations ---------------------------------------------------------------------------------


async def insert_organisation(conn: asyncpg.Connection, o: dict[str, Any]) -> dict[str, Any] | None:
    """The new organisation; None when its id is taken."""
    row = await conn.fetchrow(
        """INSERT INTO organisations(organisation_id, kind, community_id, name_zh, name_en, registered_by,
               registered_role, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (organisation_id) DO NOTHING RETURNING *""",
        o["organisation_id"], o["kind"], o["community_id"], o["name_zh"], o["name_en"], o["registered_by"],
        o["registered_role"], o["registered_at"],
    )  # fmt: skip
    return dict(row) if row else None


async def get_organisation(conn: asyncpg.Connection, organisation_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM organisations WHERE organisation_id = $1", organisation_id)
    return dict(row) if row else None


async def list_organisations(conn: asyncpg.Connection, *, community_id: str | None, kind: str | None,
                             limit: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM organisations WHERE ($1::text IS NULL OR community_id = $1)
           AND ($2::text IS NULL OR kind = $2) ORDER BY community_id, organisation_id LIMIT $3""",
        community_id, kind, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def family_members(conn: asyncpg.Connection, family_id: str) -> list[tuple[str, str]]:
    """(resident id, community id) of every registered resident of the family."""
    rows = await conn.fetch(
        "SELECT resident_id, community_id FROM residents WHERE family_id = $1 ORDER BY resident_id", family_id
    )
    return [(r["resident_id"], r["community_id"]) for r in rows]


# --- competitions ----------------------------------------------------------------------------------


async def insert_competition(conn: asyncpg.Connection, c: dict[str, Any]) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """INSERT INTO competitions(competition_id, name_zh, name_en, rounds, places, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (competition_id) DO NOTHING RETURNING *""",
        c["competition_id"], c["name_zh"], c["name_en"], c["rounds"], c["places"], c["created_by"], c["created_at"],
    )  # fmt: skip
    return dict(row) if row else None


async def get_competition(conn: asyncpg.Connection, competition_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM competitions WHERE competition_id = $1", competition_id)
    return dict(row) if row else None


async def competition_honours(conn: asyncpg.Connection, kind: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT honour_id, recipient_id, community_id, place, state, period FROM honours WHERE kind = $1 "
        "ORDER BY period, place NULLS LAST, honour_id",
        kind,
    )
    return [dict(r) for r in rows]


# --- venues, sessions, residents (projections of other services' events) --------------------------


async def venue_community(conn: asyncpg.Connection, venue_id: str) -> tuple[bool, str | None]:
    row = await conn.fetchrow("SELECT community_id FROM venues WHERE venue_id = $1", venue_id)
    return (row is not None, row["community_id"] if row else None)


async def session_community(conn: asyncpg.Connection, session_id: str) -> tuple[bool, str | None]:
    """A session's community: its own, else its venue's."""
    row = await conn.fetchrow(
        """SELECT coalesce(s.community_id, v.community_id) AS community_id FROM sessions s
           LEFT JOIN venues v ON v.venue_id = s.venue_id WHERE s.session_id = $1""",
        session_id,
    )
    return (row is not None, row["community_id"] if row else None)


async def resident_known(conn: asyncpg.Connection, resident_id: str) -> bool:
    return await conn.fetchval("SELECT true FROM residents WHERE resident_id = $1", resident_id) is not None


# --- volunteer service -----------------------------------------------------------------------------


async def hours_on(conn: asyncpg.Connection, volunteer_id: str, day: date, states: list[str]) -> float:
    """Hours already standing for the volunteer on `day`, counted under a transaction lock on the
    pair so two records at once cannot both fit under the day's 24 hours."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || ':' || ($3::date)::text))",
        VOLUNTEER_DAY_LOCK,
        volunteer_id,
        day,
    )
    return float(
        await conn.fetchval(
            "SELECT coalesce(sum(hours), 0) FROM volunteer_service WHERE volunteer_id = $1 AND day = $2 "
            "AND state = ANY($3::text[])",
            volunteer_id,
            day,
            states,
        )
    )


async def insert_service(conn: asyncpg.Connection, s: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO volunteer_service(service_id, volunteer_id, venue_id, session_id, community_id, day, hours,
               what, recorded_by, recorded_role, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11) RETURNING *""",
        s["service_id"], s["volunteer_id"], s.get("venue_id"), s.get("session_id"), s["community_id"], s["day"],
        s["hours"], s["what"], s["recorded_by"], s["recorded_role"], s["recorded_at"],
    )  # fmt: skip
    return dict(row)


async def service_for_update(conn: asyncpg.Connection, service_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM volunteer_service WHERE service_id = $1 FOR UPDATE", service_id)
    return dict(row) if row else None


async def decide_service(conn: asyncpg.Connection, service_id: uuid.UUID, state: str, by: str, role: str, at,
                         reason: str) -> dict[str, Any]:  # fmt: skip
    row = await conn.fetchrow(
        """UPDATE volunteer_service SET state = $2, decided_by = $3, decided_role = $4, decided_at = $5, reason = $6
           WHERE service_id = $1 RETURNING *""",
        service_id, state, by, role, at, reason,
    )  # fmt: skip
    return dict(row)


async def list_service(conn: asyncpg.Connection, *, volunteer_id: str | None, community_id: str | None,
                       state: str | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM volunteer_service WHERE ($1::text IS NULL OR volunteer_id = $1)
           AND ($2::text IS NULL OR community_id = $2) AND ($3::text IS NULL OR state = $3)
           ORDER BY day DESC, recorded_at DESC, service_id LIMIT $4""",
        volunteer_id, community_id, state, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def service_hours(conn: asyncpg.Connection, volunteer_id: str, start: date, end: date) -> dict[str, float]:
    """The volunteer's hours in [start, end) per state (confirmed ones are the ones that count)."""
    rows = await conn.fetch(
        "SELECT state, sum(hours) AS h FROM volunteer_service WHERE volunteer_id = $1 AND day >= $2 AND day < $3 "
        "GROUP BY state",
        volunteer_id, start, end,
    )  # fmt: skip
    return {r["state"]: float(r["h"]) for r in rows}
