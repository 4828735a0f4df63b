"""Wires the enrolment service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.enrolment.adapters import passport as passport_files
from services.enrolment.adapters.api_pool import create_api_pool
from services.enrolment.config import EnrolmentSettings
from services.enrolment.entrypoints import consumers, http
from services.enrolment.service_layer.passport import PassportDeps, certificate_key
from shared import catalogue
from shared.db.uow import UnitOfWorkFactory
from shared.reference import load_reference
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def passport_deps(settings: EnrolmentSettings) -> PassportDeps:
    """The credits rule and the reference names; a malformed credits file stops the start."""
    path = passport_files.credits_file(settings.reference_dir, settings.credits_file)
    secret = settings.certificate_secret.get_secret_value() if settings.certificate_secret else None
    return PassportDeps(
        rule=passport_files.load_credits_rule(path),
        reference=load_reference(settings.reference_dir),
        certificate_key=certificate_key(secret, settings.jwt_secret.get_secret_value()),
    )


def build_app(settings: EnrolmentSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    consumers.register(runtime)
    app = create_app(
        runtime,
        title="learnstreet enrolment",
        description="Residents, enrolment with waitlists.",
        routers=[http.router],
    )
    app.state.passport = passport_deps(settings)

    async def open_api_pool() -> None:
        # After the migrations (on_start runs after them); the relay shares the outbox signal.
        pool = await create_api_pool(settings.database_url.get_secret_value(), settings.api_pool_size)
        app.state.api_uow = UnitOfWorkFactory(pool, runtime.outbox_signal)

    async def close_api_pool() -> None:
        if getattr(app.state, "api_uow", None) is not None:
            await app.state.api_uow.pool.close()

    runtime.on_start(open_api_pool)
    runtime.on_stop(close_api_pool)
    return app
