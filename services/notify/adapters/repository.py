"""SQL for the notify service's own tables."""

from __future__ import annotations

import asyncpg

from services.notify.domain.model import CourseRef


async def upsert_course(conn: asyncpg.Connection, course: CourseRef) -> None:
    await conn.execute(
        """INSERT INTO courses(course_id, title_zh, title_en, theme, audiences) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (course_id) DO UPDATE SET title_zh = EXCLUDED.title_zh, title_en = EXCLUDED.title_en,
               theme = EXCLUDED.theme, audiences = EXCLUDED.audiences, updated_at = now()""",
        course.course_id, course.title_zh, course.title_en, course.theme, course.audiences,
    )  # fmt: skip


async def get_course(conn: asyncpg.Connection, course_id: str) -> CourseRef | None:
    row = await conn.fetchrow(
        "SELECT course_id, title_zh, title_en, theme, audiences, cancelled FROM courses WHERE course_id = $1",
        course_id,
    )
    return CourseRef(**dict(row)) if row else None
