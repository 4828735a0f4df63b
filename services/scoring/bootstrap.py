"""Wires the scoring service: runtime (Kafka, PostgreSQL, outbox), consumers, index engine, HTTP routes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.adapters.shifted_clock import shifted_clock
from services.scoring.config import ScoringSettings
from services.scoring.entrypoints import consumers, dashboard, evidence_http, http, registry_http
from services.scoring.entrypoints import periods as period_http
from services.scoring.service_layer.index import IndexEngine
from shared import catalogue
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
    no partitions from the running instances (tests serving the dashboard under another issuer)."""
    engine = build_engine(settings)
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    if consume:
        consumers.register(runtime, on_applied=engine.mark, periods=engine.indicators.periods)

    async def start_engine() -> None:
        await engine.start(runtime.pool, runtime.uow)

    runtime.on_start(start_engine)
    runtime.on_stop(engine.stop)
    app = create_app(
        runtime,
        title="learnstreet scoring",
        description="The learning-street index (学习型街道指数), expert assessments, rectification lists and honours.",
        routers=[http.router, registry_http.router, evidence_http.router, dashboard.router],
    )
    app.state.index = engine
    app.include_router(period_http.router)  # a period's figures, frozen at its close
    dashboard.configure(app)
    return app
