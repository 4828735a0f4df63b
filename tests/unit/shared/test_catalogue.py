"""The catalogue read model's contract, without a database: which events it handles, what its
handlers hand to SQL, which services keep it and how its migrations are named.
(Its SQL runs against PostgreSQL in tests/integration/test_catalogue_read_model.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.enrolment.entrypoints.consumers import HANDLERS as ENROLMENT
from services.notify.entrypoints.consumers import HANDLERS as NOTIFY
from services.scoring.entrypoints.consumers import HANDLERS as SCORING
from shared import catalogue
from shared.catalogue import projection
from shared.db.migrations import SHARED_MIGRATIONS, discover, source_of
from shared.events import topics
from shared.events.catalogue import (
    EVENT_TYPES,
    CourseCancelled,
    CourseCreated,
    SessionCancelled,
    SessionScheduled,
    VenueRegistered,
)

CATALOGUE_EVENTS = {cls for cls in EVENT_TYPES if cls.topic == topics.CATALOGUE.name}


class RecordingConnection:
    """Stands in for asyncpg: records each statement and its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    async def execute(self, sql: str, *args) -> str:
        self.calls.append((" ".join(sql.split()), args))
        return "OK"


async def _run(handler, event) -> list[tuple[str, tuple]]:
    conn = RecordingConnection()
    await handler(SimpleNamespace(conn=conn), event, None)
    return conn.calls


def test_the_projection_handles_every_catalogue_event():
    assert set(projection.HANDLERS) == CATALOGUE_EVENTS


@pytest.mark.parametrize("table", [ENROLMENT, NOTIFY], ids=["enrolment", "notify"])
def test_services_keep_the_whole_catalogue_read_model(table):
    assert CATALOGUE_EVENTS <= set(table)


def test_scoring_keeps_the_catalogue_read_model_through_the_projections():
    for event_type, handler in projection.HANDLERS.items():
        assert SCORING[event_type] is handler


async def test_course_upsert_stores_enums_as_their_values_and_leaves_a_cancellation_alone():
    event = CourseCreated(
        course_id="c1", title_zh="太极", title_en="Tai chi", theme="health", audiences=["elderly"],
        provider_id="p1", provider_kind="volunteer", community_id="k1",
    )  # fmt: skip
    [(sql, args)] = await _run(projection.on_course_created, event)
    assert sql.startswith("INSERT INTO courses")
    assert args == ("c1", "太极", "Tai chi", "health", ["elderly"], "p1", "volunteer", "k1")
    assert "cancelled" not in sql.split("DO UPDATE SET", 1)[1]


async def test_course_cancellation_cancels_the_course_then_its_known_sessions():
    (course_sql, course_args), (sessions_sql, sessions_args) = await _run(
        projection.on_course_cancelled, CourseCancelled(course_id="c1", reason="teacher ill")
    )
    assert course_sql.startswith("INSERT INTO courses") and course_args == ("c1", "teacher ill")
    assert sessions_sql.startswith("UPDATE sessions SET cancelled = true") and sessions_args == ("c1",)


async def test_venue_upsert_stores_the_type_as_its_value():
    event = VenueRegistered(
        venue_id="v1", community_id="k1", name_zh="图书馆", name_en="Library", venue_type="library", capacity=30
    )
    [(sql, args)] = await _run(projection.on_venue_registered, event)
    assert sql.startswith("INSERT INTO venues") and args == ("v1", "图书馆", "Library", "k1", "library", 30)


async def test_a_schedule_never_revives_a_cancelled_session_and_a_cancellation_keeps_a_known_start():
    starts = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
    scheduled = SessionScheduled(
        session_id="s1", course_id="c1", venue_id="v1", community_id="k1", starts_at=starts,
        ends_at=starts.replace(hour=11), capacity=20,
    )  # fmt: skip
    [(sql, args)] = await _run(projection.on_session_scheduled, scheduled)
    assert args[:2] == ("s1", "c1") and args[6:] == (20, None)
    assert "cancelled" not in sql.split("DO UPDATE SET", 1)[1]
    [(sql, args)] = await _run(projection.on_session_cancelled, SessionCancelled(session_id="s1", course_id="c1"))
    assert args == ("s1", "c1", None)
    assert "COALESCE(sessions.starts_at, EXCLUDED.starts_at)" in sql


def test_migration_sources_are_named_by_owner():
    assert source_of(SHARED_MIGRATIONS) == "shared"
    assert source_of(catalogue.MIGRATIONS) == "catalogue"
    assert source_of(Path("services/notify/adapters/migrations")) == "notify"
    assert [p.name for _, p in discover(catalogue.MIGRATIONS)] == ["0001_catalogue.sql", "0002_venue_closing.sql"]


@pytest.mark.parametrize("service", ["activities", "enrolment", "notify", "scoring"])
def test_only_the_catalogues_readers_get_its_tables(service):
    """Activities owns the catalogue: its database must not get the read model's copy."""
    bootstrap = (Path("services") / service / "bootstrap.py").read_text(encoding="utf-8")
    assert ("read_models=(catalogue.MIGRATIONS,)" in bootstrap) == (service != "activities")
