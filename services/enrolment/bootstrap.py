"""Wires the enrolment service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.enrolment.config import EnrolmentSettings
from services.enrolment.entrypoints import consumers, http
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_app(settings: EnrolmentSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS)
    consumers.register(runtime)
    return create_app(
        runtime,
        title="learnstreet enrolment",
        description="Residents, enrolment with waitlists.",
        routers=[http.router],
    )
