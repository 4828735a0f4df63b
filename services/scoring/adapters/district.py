"""The district's table of the streets' published index (migration 0013)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.scoring.domain.district import IndexRow

# The newer-wins rule of domain/district.py `supersedes`, in SQL: the row changes only for an update
# computed later than the one kept.
UPSERT = """
INSERT INTO district_index (street, community_id, total, aspects, computed_at)
VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (street, community_id) DO UPDATE
   SET total = EXCLUDED.total, aspects = EXCLUDED.aspects, computed_at = EXCLUDED.computed_at,
       received_at = now()
 WHERE district_index.computed_at < EXCLUDED.computed_at
"""


async def upsert(
    conn: Any, street: str, community_id: str, total: float, aspects: dict[str, float], computed_at: datetime
) -> bool:
    """Keep this update unless a newer one is kept; whether it was kept."""
    status = await conn.execute(UPSERT, street, community_id, total, aspects, computed_at)
    return status.endswith(" 1")


async def rows(conn: Any, street: str | None = None) -> list[IndexRow]:
    records = await conn.fetch(
        """SELECT street, community_id, total, aspects, computed_at FROM district_index
            WHERE $1::text IS NULL OR street = $1 ORDER BY street, community_id""",
        street,
    )
    return [IndexRow(r["street"], r["community_id"], r["total"], r["aspects"], r["computed_at"]) for r in records]
