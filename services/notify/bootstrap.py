"""Wires the notify service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notify.config import NotifySettings
from services.notify.entrypoints import consumers, http
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_app(settings: NotifySettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS)
    consumers.register(runtime)
    return create_app(
        runtime,
        title="learnstreet notify",
        description="Residents, notify with waitlists.",
        routers=[http.router],
    )
