"""Every rate of the index lies within [0, 1] whatever events arrive (issue 14, "The index"), computed
by the real SQL on a private copy of scoring's tables, fed through the live handler table and
attendance projector.

The defect seen on the demo: the street's 4-week participation showed 117.3 % (26,750 distinct
attendees over 22,799 registered residents): attendees who were not registered were counted in
the numerator but not in the denominator."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring.adapters import repository
from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.domain.indicators import METRICS, MetricValue
from services.scoring.domain.scoring import score_community
from services.scoring.domain.street import STREET, local_day
from services.scoring.entrypoints.consumers import HANDLERS, LABEL
from services.scoring.service_layer.attendance import AttendanceProjector
from shared.bus.decoding import Incoming
from shared.bus.dispatch import Dispatcher
from shared.db.uow import UnitOfWorkFactory
from shared.events import catalogue as ev
from shared.events.envelope import envelop
from tests.integration.scoring.private_schema import private_schema

pytestmark = pytest.mark.integration

COMMUNITIES = ("pinghu", "xinnan")
NOW = datetime.now(UTC)
RATES = sorted(m.id for m in METRICS.values() if m.unit == "ratio")


def _incoming(data, offset: int, time: datetime | None = None) -> Incoming:
    e = envelop(data, source="test", time=time or NOW)
    return Incoming(e.id, e.type, e.data, SimpleNamespace(topic=data.topic, partition=0, offset=offset), time=e.time)


async def _apply(pool, events: list) -> None:
    dispatcher = Dispatcher(UnitOfWorkFactory(pool), HANDLERS, projector=AttendanceProjector(), label=LABEL)
    await dispatcher([_incoming(e, i) for i, e in enumerate(events)])


def _attendance(resident: str, session: str, venue_community: str, *, home: str | None = None,
                group: str | None = "adult", days_ago: int = 1, minutes: int = 60):  # fmt: skip
    at = NOW - timedelta(days=days_ago)
    return ev.AttendanceRecorded(
        attendance_id=f"att:{resident}:{session}", checkin_id=uuid.uuid4(), resident_id=resident, session_id=session,
        course_id=f"c-{session}", venue_id=f"v-{venue_community}", community_id=venue_community,
        resident_community_id=home, audience_group=group, minutes=minutes, scanned_at=at, session_starts_at=at,
    )  # fmt: skip


async def _metrics(pool, populations: dict[str, int], denominators: dict[str, str] | None = None):
    async with pool.acquire() as conn:
        return await repository.compute_metrics(
            conn, today=local_day(NOW), now=NOW, populations=populations, themes=["reading", "health"],
            denominators=denominators,
        )  # fmt: skip


async def test_unregistered_attendees_never_lift_participation_above_one():
    """The demo's street: more distinct attendees than registered residents."""
    async with private_schema() as schema:
        pool = await schema.pool(size=2)
        registered = [ev.ResidentRegistered(resident_id=f"r{i}", community_id="pinghu", audience_group="adult")
                      for i in range(3)]  # fmt: skip
        attended = [_attendance(f"r{i}", f"s{i}", "pinghu", home="pinghu") for i in range(5)]  # r3, r4 unregistered
        await _apply(pool, [*registered, *attended])
        rates = ("participation_rate_4w", "participation_rate_12m")
        for per in ("registered_residents", "population"):
            metrics = await _metrics(pool, {"pinghu": 4, "xinnan": 10, STREET: 14}, dict.fromkeys(rates, per))
            for community in ("pinghu", STREET):
                for rate in rates:
                    value = metrics[community][rate]
                    assert 0 <= value.value <= 1, (per, community, rate, value)
        # Registered residents: the three registered attendees of three; population: 4 of 4 (the
        # fifth attendee is beyond the reference population and not counted).
        assert metrics["pinghu"]["participation_rate_4w"] == MetricValue(4, 4)
        by_registration = await _metrics(pool, {"pinghu": 4, STREET: 14}, dict.fromkeys(rates, "registered_residents"))
        assert by_registration["pinghu"]["participation_rate_12m"] == MetricValue(3, 3)


def _session(session: str, venue: str, capacity: int, days_ago: int = 1):
    starts = NOW - timedelta(days=days_ago, hours=2)
    return ev.SessionScheduled(session_id=session, course_id=f"c-{session}", venue_id=venue, community_id="pinghu",
                               starts_at=starts, ends_at=starts + timedelta(hours=1), capacity=capacity)  # fmt: skip


async def test_utilisation_counts_each_session_at_most_its_seats():
    """Walk-ins beyond a session's seats count as a full session, not as seats of another one."""
    async with private_schema() as schema:
        pool = await schema.pool(size=2)
        full = [_attendance(f"r{i}", "s-full", "pinghu", home="pinghu") for i in range(3)]
        await _apply(pool, [_session("s-full", "v-pinghu", 1), _session("s-empty", "v-pinghu", 3), *full])
        utilisation = (await _metrics(pool, {"pinghu": 100, STREET: 100}))["pinghu"]["venue_utilisation"]
        # One seat taken of four: three walk-ins in a one-seat session do not fill the other's three.
        assert utilisation == MetricValue(1, 4)


async def test_a_closed_venue_leaves_the_venue_and_seat_denominators_from_its_closing_day():
    async with private_schema() as schema:
        pool = await schema.pool(size=2)
        venues = [ev.VenueRegistered(venue_id=v, community_id="pinghu", name_zh="馆", name_en="venue",
                                     venue_type="library", capacity=10) for v in ("v-a", "v-b")]  # fmt: skip
        week_ago = [_attendance("r1", "s-old", "pinghu", home="pinghu", days_ago=7)]
        await _apply(pool, [*venues, _session("s-old", "v-a", 2, days_ago=7), _session("s-new", "v-a", 2), *week_ago])
        metrics = (await _metrics(pool, {"pinghu": 100, STREET: 100}))["pinghu"]
        assert (metrics["venues_active_share"], metrics["venue_utilisation"]) == (MetricValue(1, 2), MetricValue(1, 4))
        today = local_day(NOW)
        await _apply(pool, [ev.VenueClosed(venue_id="v-a", community_id="pinghu", closed_on=today - timedelta(days=3),
                                           reason="repair")])  # fmt: skip
        metrics = (await _metrics(pool, {"pinghu": 100, STREET: 100}))["pinghu"]
        # v-a leaves the venues; its session of yesterday (closed) leaves the seats, the one of a week ago stays.
        assert (metrics["venues_active_share"], metrics["venue_utilisation"]) == (MetricValue(0, 1), MetricValue(1, 2))
        await _apply(pool, [ev.VenueReopened(venue_id="v-a", community_id="pinghu", reopened_on=today)])
        metrics = (await _metrics(pool, {"pinghu": 100, STREET: 100}))["pinghu"]
        assert (metrics["venues_active_share"], metrics["venue_utilisation"]) == (MetricValue(1, 2), MetricValue(1, 2))


# --- property: arbitrary streams ------------------------------------------------------------------

residents = st.sampled_from([f"r{i}" for i in range(6)])
communities = st.sampled_from(COMMUNITIES)
groups = st.sampled_from([None, *ev.AudienceGroup])


@st.composite
def streams(draw) -> list:
    """Residents registering and moving, attendance of registered and unregistered residents (on
    time or months late), adjustments, venues closing and reopening, courses, sessions (small
    capacities) and enrolments, in any order."""
    out: list = []
    sessions = [f"s{i}" for i in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["resident", "attend", "attend", "adjust", "venue", "course", "session", "enrol",
                                     "close", "reopen"]))  # fmt: skip
        session = draw(st.sampled_from(sessions))
        community = draw(communities)
        if kind == "resident":  # registering or moving community
            out.append(ev.ResidentUpdated(resident_id=draw(residents), community_id=community,
                                          audience_group=draw(st.sampled_from(list(ev.AudienceGroup)))))  # fmt: skip
        elif kind == "attend":
            home = draw(st.sampled_from([None, *COMMUNITIES]))
            out.append(_attendance(draw(residents), session, community, home=home,
                                   group=draw(groups), days_ago=draw(st.sampled_from([0, 3, 40, 200, 400])),
                                   minutes=draw(st.integers(0, 300))))  # fmt: skip
        elif kind == "adjust":
            r = draw(residents)
            out.append(ev.AttendanceAdjusted(attendance_id=f"att:{r}:{session}", resident_id=r, session_id=session,
                                             community_id=community, minutes=draw(st.integers(0, 600))))  # fmt: skip
        elif kind == "venue":
            out.append(ev.VenueRegistered(venue_id=f"v-{draw(st.integers(0, 2))}", community_id=community,
                                          name_zh="馆", name_en="venue", venue_type="library",
                                          capacity=draw(st.integers(0, 5))))  # fmt: skip
        elif kind in ("close", "reopen"):  # venues close and reopen on any day, before or after their sessions
            venue, day = f"v-{draw(st.integers(0, 2))}", local_day(NOW) + timedelta(days=draw(st.sampled_from(
                [-400, -40, -1, 0, 5])))  # fmt: skip
            if kind == "close":
                out.append(ev.VenueClosed(venue_id=venue, community_id=community, closed_on=day, reason="repair"))
            else:
                out.append(ev.VenueReopened(venue_id=venue, community_id=community, reopened_on=day))
        elif kind == "course":
            out.append(ev.CourseCreated(course_id=f"c-{session}", title_zh="课", title_en="course",
                                        theme=draw(st.sampled_from(["reading", "health", "not-a-theme", ""])),
                                        provider_kind=draw(st.sampled_from([None, "volunteer"]))))  # fmt: skip
        elif kind == "session":
            starts = NOW - timedelta(days=draw(st.sampled_from([1, 30, 300])), hours=2)
            out.append(ev.SessionScheduled(session_id=session, course_id=f"c-{session}",
                                           venue_id=f"v-{draw(st.integers(0, 2))}", community_id=community,
                                           starts_at=starts, ends_at=starts + timedelta(hours=1),
                                           capacity=draw(st.integers(0, 3))))  # fmt: skip
        else:
            out.append(ev.EnrolmentConfirmed(enrolment_id=f"e{len(out)}", session_id=session, course_id=f"c-{session}",
                                             resident_id=draw(residents), community_id=community,
                                             at=NOW - timedelta(days=2)))  # fmt: skip
    return out


def test_every_rate_is_within_0_and_1_for_any_stream():
    indicators = load_indicator_file(DEFAULT_INDICATORS)
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        schema = runner.run(stack.enter_async_context(private_schema()))
        pool = runner.run(schema.pool(size=2))
        tables = list(repository.PROJECTION_TABLES)

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(streams(), st.integers(1, 4), st.integers(1, 3), st.sampled_from(["population", "registered_residents"]))
        def check(stream: list, population: int, batches: int, per: str) -> None:
            async def run() -> None:
                async with pool.acquire() as conn:
                    await conn.execute(f"TRUNCATE {', '.join(tables)}")
                size = max(1, len(stream) // batches)
                for start in range(0, len(stream), size):  # later batches carry late events
                    await _apply(pool, stream[start : start + size])
                denominators = dict.fromkeys(("participation_rate_4w", "participation_rate_12m"), per)
                populations = {"pinghu": population, "xinnan": population, STREET: 2 * population}
                metrics = await _metrics(pool, populations, denominators)
                for community, values in metrics.items():
                    for rate in RATES:
                        v = values[rate]
                        assert 0 <= v.numerator <= v.denominator or v.denominator == 0, (community, rate, v)
                        assert 0 <= v.value <= 1, (community, rate, v)
                    view = score_community(indicators, values, {}, "street" if community == STREET else "community")
                    for aspect in view["aspects"]:
                        for leaf in aspect["indicators"]:
                            assert 0 <= leaf["score"] <= leaf["max"], (community, leaf)

            runner.run(run())

        try:
            check()
        finally:
            runner.run(stack.aclose())
