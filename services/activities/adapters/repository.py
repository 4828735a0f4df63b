"""SQL for the activities service's own tables."""

from __future__ import annotations

import asyncpg

from services.activities.domain.model import Course


async def add_course(conn: asyncpg.Connection, course: Course) -> bool:
    """Insert a course; False when its id exists already."""
    inserted = await conn.fetchval(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, audiences, provider_id, provider_kind,
                               brand, community_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (course_id) DO NOTHING RETURNING true""",
        course.course_id,
        course.title_zh,
        course.title_en,
        course.theme,
        [str(a) for a in course.audiences],
        course.provider_id,
        course.provider_kind and str(course.provider_kind),
        course.brand,
        course.community_id,
    )
    return bool(inserted)


async def get_course(conn: asyncpg.Connection, course_id: str) -> Course | None:
    row = await conn.fetchrow(
        """SELECT course_id, title_zh, title_en, theme, audiences, provider_id, provider_kind, brand,
                  community_id, cancelled FROM courses WHERE course_id = $1""",
        course_id,
    )
    return Course(**dict(row)) if row else None
