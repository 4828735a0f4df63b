"""SQL of questionnaires, their responses and session satisfaction ratings (migration 0011)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import asyncpg

from services.activities.domain.surveys import Audience, Option, Question, Survey

_SURVEY_COLUMNS = (
    "survey_id, title_zh, title_en, questions, community_ids, audience_groups, everyone, closes_at, created_by"
)


def _survey(r: asyncpg.Record) -> Survey:
    questions = tuple(
        Question(**{**q, "options": tuple(Option(**o) for o in q.get("options", ()))}) for q in r["questions"]
    )
    audience = Audience(tuple(r["community_ids"]), tuple(r["audience_groups"]), r["everyone"])
    return Survey(r["survey_id"], r["title_zh"], r["title_en"], questions, audience, r["created_by"], r["closes_at"])


async def add_survey(conn: asyncpg.Connection, s: Survey) -> datetime | None:
    """Inserts the survey; its creation time, or None when the id exists already."""
    return await conn.fetchval(
        f"""INSERT INTO surveys({_SURVEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (survey_id) DO NOTHING RETURNING created_at""",
        s.survey_id, s.title_zh, s.title_en, [asdict(q) for q in s.questions], list(s.audience.community_ids),
        list(s.audience.audience_groups), s.audience.everyone, s.closes_at, s.created_by,
    )  # fmt: skip


async def get_survey(conn: asyncpg.Connection, survey_id: str) -> tuple[Survey, datetime] | None:
    row = await conn.fetchrow(f"SELECT {_SURVEY_COLUMNS}, created_at FROM surveys WHERE survey_id = $1", survey_id)
    return (_survey(row), row["created_at"]) if row else None


async def list_surveys(
    conn: asyncpg.Connection, *, reaching: str | None = None, limit: int = 200
) -> list[tuple[Survey, datetime]]:
    """Newest first; `reaching`: only those whose audience may include that community's residents."""
    rows = await conn.fetch(
        f"""SELECT {_SURVEY_COLUMNS}, created_at FROM surveys
            WHERE $1::text IS NULL OR cardinality(community_ids) = 0 OR $1 = ANY(community_ids)
            ORDER BY created_at DESC, survey_id LIMIT $2""",
        reaching, limit,
    )  # fmt: skip
    return [(_survey(r), r["created_at"]) for r in rows]


async def open_for(
    conn: asyncpg.Connection, resident_id: str, community_id: str, audience_group: str, now: datetime
) -> list[tuple[Survey, datetime]]:
    """Surveys addressed to a resident of this community and audience group, still open, that the
    resident has not answered."""
    rows = await conn.fetch(
        f"""SELECT {_SURVEY_COLUMNS}, created_at FROM surveys s
            WHERE (cardinality(community_ids) = 0 OR $2 = ANY(community_ids))
              AND (cardinality(audience_groups) = 0 OR $3 = ANY(audience_groups))
              AND (closes_at IS NULL OR closes_at > $4)
              AND NOT EXISTS (SELECT 1 FROM survey_responses r WHERE r.survey_id = s.survey_id AND r.resident_id = $1)
            ORDER BY created_at DESC, survey_id LIMIT 100""",
        resident_id, community_id, audience_group, now,
    )  # fmt: skip
    return [(_survey(r), r["created_at"]) for r in rows]


async def add_response(
    conn: asyncpg.Connection, survey_id: str, resident_id: str, community_id: str, audience_group: str, answers: dict
) -> datetime | None:
    """The answer time, or None when the resident answered this survey already."""
    return await conn.fetchval(
        """INSERT INTO survey_responses(survey_id, resident_id, community_id, audience_group, answers)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING answered_at""",
        survey_id, resident_id, community_id, audience_group, answers,
    )  # fmt: skip


async def responses(conn: asyncpg.Connection, survey_id: str, community_id: str | None) -> list[asyncpg.Record]:
    """Answer sets, newest first (the results keep the newest free texts)."""
    return await conn.fetch(
        """SELECT community_id, answers FROM survey_responses
           WHERE survey_id = $1 AND ($2::text IS NULL OR community_id = $2) ORDER BY answered_at DESC""",
        survey_id, community_id,
    )  # fmt: skip


async def not_responded(conn: asyncpg.Connection, survey: Survey, community_id: str | None) -> dict[str, int]:
    """Residents known to this service now (enrolment's registrations) whom the survey addresses
    and who have not answered it, per community: the rest of each community's targeted residents."""
    a = survey.audience
    rows = await conn.fetch(
        """SELECT community_id, count(*) AS n FROM residents r
           WHERE (cardinality($2::text[]) = 0 OR community_id = ANY($2::text[]))
             AND (cardinality($3::text[]) = 0 OR audience_group = ANY($3::text[]))
             AND ($4::text IS NULL OR community_id = $4)
             AND NOT EXISTS (SELECT 1 FROM survey_responses x WHERE x.survey_id = $1 AND x.resident_id = r.resident_id)
           GROUP BY community_id""",
        survey.survey_id, list(a.community_ids), list(a.audience_groups), community_id,
    )  # fmt: skip
    return {r["community_id"]: r["n"] for r in rows}


async def responses_of(conn: asyncpg.Connection, resident_id: str, limit: int = 200) -> list[asyncpg.Record]:
    """One resident's answer sets with their survey's titles and questions, newest first."""
    return await conn.fetch(
        """SELECT r.survey_id, s.title_zh, s.title_en, s.questions, r.answers, r.answered_at
           FROM survey_responses r JOIN surveys s USING (survey_id)
           WHERE r.resident_id = $1 ORDER BY r.answered_at DESC, r.survey_id LIMIT $2""",
        resident_id, limit,
    )  # fmt: skip


# --- satisfaction -----------------------------------------------------------------------------


async def add_rating(conn: asyncpg.Connection, row: dict[str, Any]) -> datetime | None:
    """The rating time, or None when the resident rated this session already."""
    return await conn.fetchval(
        """INSERT INTO session_ratings(session_id, resident_id, rating_id, course_id, community_id, theme, score,
                                      comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT DO NOTHING RETURNING rated_at""",
        row["session_id"], row["resident_id"], row["rating_id"], row["course_id"], row["community_id"], row["theme"],
        row["score"], row["comment"],
    )  # fmt: skip


async def ratings_of(conn: asyncpg.Connection, resident_id: str, limit: int = 500) -> list[asyncpg.Record]:
    """One resident's ratings, newest first (an erased resident's carry a pseudonym: none found)."""
    return await conn.fetch(
        """SELECT session_id, course_id, score, comment, rated_at FROM session_ratings
           WHERE resident_id = $1 ORDER BY rated_at DESC, session_id LIMIT $2""",
        resident_id, limit,
    )  # fmt: skip


async def low_ratings_by_theme(conn: asyncpg.Connection, community_id: str, at_most: int, since: datetime) -> dict:
    rows = await conn.fetch(
        """SELECT theme, count(*) AS n FROM session_ratings
           WHERE community_id = $1 AND score <= $2 AND rated_at > $3 AND theme IS NOT NULL GROUP BY theme""",
        community_id, at_most, since,
    )  # fmt: skip
    return {r["theme"]: r["n"] for r in rows}


async def resident(conn: asyncpg.Connection, resident_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT community_id, audience_group FROM residents WHERE resident_id = $1", resident_id)


async def set_consents(conn: asyncpg.Connection, resident_id: str, purposes: list[str], notice_version: str) -> None:
    await conn.execute(
        """INSERT INTO resident_consents(resident_id, purposes, notice_version) VALUES ($1, $2, $3)
           ON CONFLICT (resident_id) DO UPDATE
           SET purposes = EXCLUDED.purposes, notice_version = EXCLUDED.notice_version, changed_at = now()""",
        resident_id, purposes, notice_version,
    )  # fmt: skip


async def agrees_to(conn: asyncpg.Connection, resident_id: str, purpose: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT $2 = ANY(purposes) FROM resident_consents WHERE resident_id = $1", resident_id, purpose
        )
    )
