"""Wires the activities service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.activities.config import ActivitiesSettings
from services.activities.entrypoints import http
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_app(settings: ActivitiesSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS)
    return create_app(
        runtime,
        title="learnstreet activities",
        description="Venues, courses and sessions, needs voting, kiosk check-ins to attendance.",
        routers=[http.router],
    )
