"""The catalogue read model (shared/catalogue) on a real PostgreSQL, in a scratch schema.

Its one migration must create the tables on a new database, and, on a database where a service
kept its own copy of them (as enrolment, notify and scoring did before), keep every row and bring
the tables to the common shape; the projection then behaves the same on all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from shared import catalogue
from shared.catalogue import projection, repository
from shared.db.migrations import migrate
from shared.events.catalogue import (
    CourseCancelled,
    CourseCreated,
    SessionCancelled,
    SessionChanged,
    SessionScheduled,
    VenueRegistered,
)
from tests.support import env

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).resolve().parents[2] / "services"

# The tables as each service's own migrations created them before the shared read model.
_OLD_COURSES = """CREATE TABLE courses (
    course_id text PRIMARY KEY, title_zh text NOT NULL, title_en text NOT NULL, theme text NOT NULL,
    audiences text[] NOT NULL DEFAULT '{}', cancelled boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now());"""
OLD_COPIES = {
    "enrolment": _OLD_COURSES
    + """
        ALTER TABLE courses ADD COLUMN cancel_reason text NOT NULL DEFAULT '';
        CREATE TABLE sessions (
            session_id text PRIMARY KEY, course_id text NOT NULL, venue_id text, community_id text,
            starts_at timestamptz, ends_at timestamptz, capacity int NOT NULL DEFAULT 0,
            elderly_priority_until timestamptz, scheduled boolean NOT NULL DEFAULT true,
            cancelled boolean NOT NULL DEFAULT false, cancel_reason text NOT NULL DEFAULT '',
            confirmed_count int NOT NULL DEFAULT 0, waitlist_count int NOT NULL DEFAULT 0,
            next_seq bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO sessions(session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity,
                             confirmed_count)
            VALUES ('old-s', 'old-c', 'old-v', 'c1', now(), now() + interval '1 hour', 10, 3);""",
    "notify": _OLD_COURSES
    + """
        CREATE TABLE sessions (
            session_id text PRIMARY KEY, course_id text NOT NULL, venue_id text, starts_at timestamptz,
            ends_at timestamptz, cancelled boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE venues (venue_id text PRIMARY KEY, name_zh text NOT NULL, name_en text NOT NULL,
                             updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO sessions(session_id, course_id, venue_id, starts_at, ends_at)
            VALUES ('old-s', 'old-c', 'old-v', now(), now() + interval '1 hour');
        INSERT INTO sessions(session_id, course_id, starts_at) VALUES ('old-remembered', 'old-c', now());
        INSERT INTO venues(venue_id, name_zh, name_en) VALUES ('old-v', '旧馆', 'Old hall');""",
    "scoring": _OLD_COURSES
    + """
        ALTER TABLE courses ADD COLUMN provider_id text, ADD COLUMN provider_kind text, ADD COLUMN community_id text;
        CREATE TABLE venues (venue_id text PRIMARY KEY, community_id text NOT NULL, venue_type text NOT NULL,
                             capacity int NOT NULL);
        CREATE TABLE sessions (
            session_id text PRIMARY KEY, course_id text NOT NULL, venue_id text NOT NULL, community_id text NOT NULL,
            starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, capacity int NOT NULL,
            cancelled boolean NOT NULL DEFAULT false);
        INSERT INTO venues VALUES ('old-v', 'c1', 'library', 30);
        INSERT INTO sessions(session_id, course_id, venue_id, community_id, starts_at, ends_at, capacity)
            VALUES ('old-s', 'old-c', 'old-v', 'c1', now(), now() + interval '1 hour', 10);""",
}


@pytest.fixture
async def scratch() -> AsyncIterator[asyncpg.Connection]:
    """A connection whose only schema is a fresh one, dropped afterwards."""
    schema = f"catalogue_test_{uuid.uuid4().hex[:12]}"
    url = env()["SCORING_DATABASE_URL"]
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def _columns(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {r["column_name"] for r in rows}


async def _apply(conn: asyncpg.Connection, handler, event) -> None:
    async with conn.transaction():
        await handler(SimpleNamespace(conn=conn), event, None)


def _schedule(session_id: str, course_id: str, cls=SessionScheduled, **changes) -> SessionScheduled:
    starts = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
    values = dict(
        session_id=session_id, course_id=course_id, venue_id="v1", community_id="c1", starts_at=starts,
        ends_at=starts + timedelta(hours=2), capacity=20,
    )  # fmt: skip
    return cls(**{**values, **changes})


@pytest.mark.parametrize("copy", [None, *OLD_COPIES])
async def test_one_migration_keeps_a_services_old_copy_and_the_projection_works_on_it(scratch, copy):
    conn = scratch
    if copy is not None:
        await conn.execute(OLD_COPIES[copy])
        await conn.execute(
            "INSERT INTO courses(course_id, title_zh, title_en, theme) VALUES ('old-c', '旧课', 'Old', 't')"
        )
    applied = await migrate(conn, catalogue.MIGRATIONS)
    assert "catalogue/0001_catalogue.sql" in applied
    assert await migrate(conn, catalogue.MIGRATIONS) == []

    assert {"provider_kind", "community_id", "cancel_reason"} <= await _columns(conn, "courses")
    venue_columns = {"name_zh", "community_id", "venue_type", "capacity", "closed_on", "reopened_on"}
    assert venue_columns <= await _columns(conn, "venues")
    assert {"community_id", "capacity", "elderly_priority_until", "scheduled"} <= await _columns(conn, "sessions")
    if copy is not None:
        assert (await repository.get_course(conn, "old-c")).title_en == "Old"
        old = await repository.get_session(conn, "old-s")
        assert (old.course_id, old.scheduled, old.cancelled) == ("old-c", True, False)
    if copy == "notify":  # a start remembered from an enrolment, before the schedule
        assert (await repository.get_session(conn, "old-remembered")).scheduled is False
    if copy == "enrolment":  # enrolment's own columns are untouched
        assert await conn.fetchval("SELECT confirmed_count FROM sessions WHERE session_id = 'old-s'") == 3

    await _apply(
        conn,
        projection.on_venue_registered,
        VenueRegistered(venue_id="old-v", community_id="c2", name_zh="新馆", name_en="New hall",
                        venue_type="library", capacity=40),
    )  # fmt: skip
    venue = await conn.fetchrow("SELECT name_en, community_id, capacity FROM venues WHERE venue_id = 'old-v'")
    assert tuple(venue) == ("New hall", "c2", 40)

    # A cancellation overtaking the creation and the schedule wins over both.
    await _apply(conn, projection.on_course_cancelled, CourseCancelled(course_id="c-late", reason="teacher ill"))
    await _apply(
        conn,
        projection.on_session_cancelled,
        SessionCancelled(session_id="s-late", course_id="c-late", starts_at=datetime(2030, 5, 1, 9, 30, tzinfo=UTC)),
    )
    placeholder = await repository.get_session(conn, "s-late")
    assert (placeholder.scheduled, placeholder.cancelled, placeholder.ends_at) == (False, True, None)
    await _apply(
        conn,
        projection.on_course_created,
        CourseCreated(course_id="c-late", title_zh="晚", title_en="Late", theme="health", audiences=["elderly"],
                      provider_id="p1", provider_kind="volunteer"),
    )  # fmt: skip
    course = await repository.get_course(conn, "c-late")
    assert (course.title_en, course.audiences, course.provider_kind) == ("Late", ["elderly"], "volunteer")
    assert (course.cancelled, course.cancel_reason) == (True, "teacher ill")
    await _apply(conn, projection.on_session_scheduled, _schedule("s-late", "c-late"))
    late = await repository.get_session(conn, "s-late")
    assert (late.scheduled, late.cancelled, late.venue_id) == (True, True, "v1")
    # A session of a cancelled course learnt after the cancellation is cancelled from the start.
    await _apply(conn, projection.on_session_scheduled, _schedule("s-after", "c-late"))
    assert (await repository.get_session(conn, "s-after")).cancelled is True

    # A course cancellation cancels the sessions known so far; a later change revives none.
    await _apply(conn, projection.on_course_created, CourseCreated(course_id="c2", title_zh="二", title_en="Two",
                                                                   theme="arts"))  # fmt: skip
    await _apply(conn, projection.on_session_scheduled, _schedule("s2", "c2"))
    await repository.remember_session_start(conn, "s2", "c2", datetime(2031, 1, 1, tzinfo=UTC))  # known: left alone
    assert (await repository.get_session(conn, "s2")).starts_at == datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
    await _apply(conn, projection.on_course_cancelled, CourseCancelled(course_id="c2"))
    await _apply(conn, projection.on_session_scheduled, _schedule("s2", "c2", SessionChanged, capacity=5))
    s2 = await repository.get_session(conn, "s2")
    assert (s2.cancelled, s2.capacity) == (True, 5)
    assert await repository.course_cancelled(conn, "c2")


@pytest.mark.parametrize("service", ["enrolment", "notify", "scoring"])
async def test_a_new_database_gets_the_read_model_then_the_services_own_columns(scratch, service):
    applied = await migrate(scratch, catalogue.MIGRATIONS, SERVICES / service / "adapters" / "migrations")
    shared = [name for name in applied if name.startswith("shared/")]
    assert shared[0] == "shared/0001_outbox_inbox.sql" and applied[: len(shared)] == shared  # shared first
    # then the read model's migrations, all of them (0002 added the venues' closing), then the service's
    read_model = [name for name in applied if name.startswith("catalogue/")]
    assert read_model[0] == "catalogue/0001_catalogue.sql" and "catalogue/0002_venue_closing.sql" in read_model
    assert applied[len(shared) : len(shared) + len(read_model)] == read_model
    assert all(name.startswith(f"{service}/") for name in applied[len(shared) + len(read_model) :])
    columns = await _columns(scratch, "sessions")
    assert {"scheduled", "capacity", "elderly_priority_until"} <= columns
    enrolment_state = {"confirmed_count", "waitlist_count", "next_seq", "version", "cancel_reason"}
    assert (enrolment_state <= columns) == (service == "enrolment")
