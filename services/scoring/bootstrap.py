"""Wires the scoring service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.scoring.config import ScoringSettings
from services.scoring.entrypoints import consumers, http
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_app(settings: ScoringSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS)
    consumers.register(runtime)
    return create_app(
        runtime,
        title="learnstreet scoring",
        description="Residents, scoring with waitlists.",
        routers=[http.router],
    )
