"""SQL of venue closings (table `venue_closings`): read, saved, announced to every instance's caches."""

from __future__ import annotations

import asyncpg

from services.activities.adapters.cache_sync import announce
from services.activities.domain.model import Closing

_COLUMNS = "closed_on, reopened_on, reason"


def _closing(r) -> Closing:
    return Closing(r["closed_on"], r["reopened_on"], r["reason"])


async def closing_of(conn: asyncpg.Connection, venue_id: str, *, for_update: bool = False) -> Closing | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM venue_closings WHERE venue_id = $1" + (" FOR UPDATE" if for_update else ""), venue_id
    )
    return _closing(row) if row else None


async def closings(conn: asyncpg.Connection, venue_ids: list[str] | None = None) -> dict[str, Closing]:
    rows = await conn.fetch(
        f"SELECT venue_id, {_COLUMNS} FROM venue_closings WHERE $1::text[] IS NULL OR venue_id = ANY($1::text[])",
        venue_ids,
    )
    return {r["venue_id"]: _closing(r) for r in rows}


async def save_closing(conn: asyncpg.Connection, venue_id: str, closing: Closing) -> None:
    await conn.execute(
        """INSERT INTO venue_closings(venue_id, closed_on, reopened_on, reason) VALUES ($1, $2, $3, $4)
           ON CONFLICT (venue_id) DO UPDATE SET closed_on = EXCLUDED.closed_on, reopened_on = EXCLUDED.reopened_on,
               reason = EXCLUDED.reason, changed_at = now()""",
        venue_id, closing.closed_on, closing.reopened_on, closing.reason,
    )  # fmt: skip
    # The check-in path of every instance must refuse the venue's sessions from now on.
    await announce(conn, "venue", [venue_id])
