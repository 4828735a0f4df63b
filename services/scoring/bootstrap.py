"""Wires the scoring service: runtime (Kafka, PostgreSQL, outbox), consumers, index engine, HTTP routes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.scoring.adapters import repository
from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.adapters.shifted_clock import shifted_clock
from services.scoring.config import ScoringSettings
from services.scoring.domain.district import parse_streets
from services.scoring.entrypoints import consumers, dashboard, district, evidence_http, http, registry_http
from services.scoring.entrypoints import periods as period_http
from services.scoring.service_layer.handlers import ScoringDeps
from services.scoring.service_layer.index import IndexEngine
from shared import catalogue
from shared.db.erasure import ErasedCards
from shared.rebuild import CheckpointSchedule
from shared.reference import load_reference
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_engine(settings: ScoringSettings) -> IndexEngine:
    clock = {"clock": shifted_clock(settings.test_clock_file)} if settings.test_clock_file else {}
    indicators = load_indicator_file(settings.indicators_file)
    if settings.selection_mode is not None:
        indicators = replace(indicators, selection=replace(indicators.selection, mode=settings.selection_mode))
    return IndexEngine(
        indicators,
        load_reference(settings.reference_dir),
        refresh_interval_s=settings.refresh_interval_s,
        idle_refresh_s=settings.idle_refresh_s,
        honours_interval_s=settings.honours_interval_s,
        **clock,
    )


def build_app(settings: ScoringSettings, *, consume: bool = True) -> FastAPI:
    """`consume=False`: an instance that serves HTTP only and joins no consumer group, so it takes
    no partitions from the running instances (tests serving the dashboard under another issuer).
    With `SCORING_DISTRICT_STREETS` set: a district instance (`build_district_app`)."""
    streets = parse_streets(settings.district_streets)  # DistrictSettingError: one line, before anything starts
    if streets:
        district.group_id(settings.district_group)  # likewise
        return build_district_app(settings, streets, consume=consume)
    engine = build_engine(settings)
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    runtime.deps = ScoringDeps(erased_cards=ErasedCards.for_service(settings.jwt_secret.get_secret_value(), "scoring"))
    if consume:
        consumers.register(runtime, on_applied=engine.mark, periods=engine.indicators.periods)

    async def start_engine() -> None:
        await engine.start(runtime.pool, runtime.uow)

    runtime.on_start(start_engine)
    runtime.on_stop(engine.stop)
    checkpoints = CheckpointSchedule(
        repository.CHECKPOINTED, settings.database_url.get_secret_value(), settings.checkpoint_interval_seconds,
        topics=consumers.TOPICS, kafka=settings.kafka_client_kwargs(),
    )  # fmt: skip
    runtime.on_start(checkpoints.start)
    runtime.on_stop(checkpoints.stop)
    app = create_app(
        runtime,
        title="learnstreet scoring",
        description="The learning-street index (学习型街道指数), expert assessments, rectification lists and honours.",
        routers=[http.router, registry_http.router, evidence_http.router, dashboard.router, district.router],
    )
    app.state.index = engine
    # a street instance serves its database's district table (filled when a district instance shares it)
    app.state.district = district.from_indicators({}, settings.reference_dir, engine.indicators)
    app.include_router(period_http.router)  # a period's figures, frozen at its close
    dashboard.configure(app)
    return app


def build_district_app(settings: ScoringSettings, streets: dict[str, str], *, consume: bool = True) -> FastAPI:
    """A district instance (docs/decisions/0022-district-view.md): the streets' published index only.
    No index engine, none of the street's consumers (it joins only the district's own group), no
    street routes; the district routes, the district page and the dashboard's assets it uses."""
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    if consume:
        district.register(runtime, streets, timedelta(seconds=settings.district_max_clock_skew_s),
                          district.group_id(settings.district_group))  # fmt: skip
    app = create_app(
        runtime,
        title="learnstreet scoring (district)",
        description="Each street's published learning index side by side (区级学习型街道指数).",
        routers=[district.router, dashboard.router],
    )
    app.state.index = None
    indicators = load_indicator_file(settings.indicators_file)  # the aspects' names and maxima
    app.state.district = district.from_indicators(streets, settings.reference_dir, indicators)
    dashboard.configure(app)
    return app
