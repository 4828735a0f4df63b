"""SQL of late attendance and frozen period snapshots (migration 0011). Unqualified
table names: the rebuild runs the same statements in its shadow schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from services.scoring.domain.street import STREET


async def save_late(conn: asyncpg.Connection, rows: list[tuple[str, str, date, date, str | None, str | None]]) -> None:
    """(session, resident, session day, counted day, venue community, home community) of late attendance."""
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    await conn.execute(
        """INSERT INTO late_attendance(session_id, resident_id, session_day, counted_day, community_id,
               home_community_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::date[], $5::text[], $6::text[])
           ON CONFLICT (session_id, resident_id) DO NOTHING""",
        *(list(c) for c in cols),
    )  # fmt: skip


async def late_counts(conn: asyncpg.Connection, start: date, end: date) -> dict[str, int]:
    """Late attendance counted in [start, end), per community it touches (the venue's or the
    attendee's home) and for the street."""
    rows = await conn.fetch(
        """SELECT c AS community_id, count(DISTINCT (session_id, resident_id)) AS n FROM (
               SELECT community_id AS c, session_id, resident_id FROM late_attendance
               WHERE counted_day >= $1 AND counted_day < $2
               UNION ALL
               SELECT home_community_id, session_id, resident_id FROM late_attendance
               WHERE counted_day >= $1 AND counted_day < $2) l
           WHERE c IS NOT NULL GROUP BY c
           UNION ALL
           SELECT $3, count(*) FROM late_attendance WHERE counted_day >= $1 AND counted_day < $2""",
        start, end, STREET,
    )  # fmt: skip
    return {r["community_id"]: r["n"] for r in rows}


async def frozen_periods(conn: asyncpg.Connection) -> set[str]:
    return {r["period"] for r in await conn.fetch("SELECT DISTINCT period FROM period_snapshots")}


async def freeze(
    conn: asyncpg.Connection, period: str, closed_on: date, views: dict[str, dict[str, Any]], at: datetime
) -> None:
    """Stores a closed period's figures once; a second instance's attempt changes nothing."""
    await conn.executemany(
        """INSERT INTO period_snapshots(period, community_id, closed_on, frozen_at, view) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (period, community_id) DO NOTHING""",
        [(period, community, closed_on, at, view) for community, view in views.items()],
    )


async def snapshot(conn: asyncpg.Connection, period: str, community_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT closed_on, frozen_at, view FROM period_snapshots WHERE period = $1 AND community_id = $2",
        period, community_id,
    )  # fmt: skip
    if row is None:
        return None
    return {"closed_on": row["closed_on"], "frozen_at": row["frozen_at"], "view": row["view"]}
