"""Wires the enrolment service: runtime (Kafka, PostgreSQL, outbox), consumers, HTTP routes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.enrolment.adapters import passport as passport_files
from services.enrolment.adapters.api_pool import create_api_pool
from services.enrolment.adapters.consents import load_notice
from services.enrolment.adapters.contacts_roll import ContactsRoll
from services.enrolment.adapters.resident_tokens import ResidentTokenSigner
from services.enrolment.config import EnrolmentSettings
from services.enrolment.domain.credentials import Issuer
from services.enrolment.domain.sign_in import Limits
from services.enrolment.entrypoints import consumers, http, resident_page
from services.enrolment.entrypoints import credentials as credential_routes
from services.enrolment.entrypoints import erasure as erasure_routes
from services.enrolment.entrypoints import sign_in as sign_in_routes
from services.enrolment.service_layer.credentials import CredentialDeps, derived_secret, ensure_signing_key
from services.enrolment.service_layer.handlers import SOURCE
from services.enrolment.service_layer.passport import PassportDeps, certificate_key
from services.enrolment.service_layer.sign_in import SignInDeps
from shared import catalogue
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWorkFactory
from shared.events import topics
from shared.http.auth import weak_secret_reason
from shared.kiosk_cards import CardDigests
from shared.rebuild import CheckpointSchedule
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


def issuer_base_url(settings: EnrolmentSettings, instance: str | None) -> str:
    """Every instance must name one issuer. Without a configured address, the first instance's:
    instance i of `make up REPLICAS=n` (LS_INSTANCE enrolment-<i>) listens 10·(i−1) above it
    (deploy/local/topology.py)."""
    if settings.credentials_base_url:
        return settings.credentials_base_url.rstrip("/")
    suffix = (instance or "").rpartition("-")[2]
    index = int(suffix) if suffix.isdigit() else 1
    return f"http://{settings.http_host}:{settings.http_port - 10 * (index - 1)}"


def credential_deps(settings: EnrolmentSettings) -> CredentialDeps:
    base = issuer_base_url(settings, os.environ.get("LS_INSTANCE"))
    secret = settings.credentials_secret.get_secret_value() if settings.credentials_secret else None
    jwt_secret = settings.jwt_secret.get_secret_value()
    return CredentialDeps(
        issuer=Issuer(base, load_reference(settings.reference_dir)),
        key_passphrase=derived_secret(secret, jwt_secret, b"learnstreet credential signing keys v1"),
        subject_key=derived_secret(secret, jwt_secret, b"learnstreet credential subjects v1"),
    )


def sign_in_deps(settings: EnrolmentSettings) -> SignInDeps:
    """Residents' sign-in; without a key file it is off (its routes answer 503). The issuer is the
    one every service trusts (LS_RESIDENT_ISSUER), else this service's first instance's address."""
    issuer = settings.resident_issuer or issuer_base_url(settings, os.environ.get("LS_INSTANCE"))
    audiences = tuple(a.strip() for a in settings.sign_in_audiences.split(",") if a.strip())
    signer = None
    if settings.sign_in_key_file:
        signer = ResidentTokenSigner.from_file(settings.sign_in_key_file, issuer, audiences)
    secret = settings.sign_in_secret.get_secret_value() if settings.sign_in_secret else None
    if secret and (reason := weak_secret_reason(secret)) is not None:
        # the hashes of phones and live codes are only as secret as this key
        raise ValueError(reason.replace("LS_JWT_SECRET", "ENROLMENT_SIGN_IN_SECRET"))
    limits = Limits(
        code_ttl=timedelta(seconds=settings.sign_in_code_ttl_s),
        phone_interval=timedelta(seconds=settings.sign_in_phone_interval_s),
        phone_per_hour=settings.sign_in_phone_per_hour,
        ip_per_hour=settings.sign_in_ip_per_hour,
        max_attempts=settings.sign_in_max_attempts,
    )
    key = derived_secret(secret, settings.jwt_secret.get_secret_value(), b"learnstreet resident sign-in v1")
    return SignInDeps(key=key, limits=limits, token_ttl_s=settings.sign_in_token_ttl_s, signer=signer)


def build_app(settings: EnrolmentSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    erased_cards = ErasedCards.for_service(settings.jwt_secret.get_secret_value(), "enrolment")
    consumers.register(runtime, erased_cards)
    app = create_app(
        runtime,
        title="learnstreet enrolment",
        description="Residents, enrolment with waitlists.",
        routers=[http.router, credential_routes.router, erasure_routes.router, resident_page.router],
    )
    app.state.erased_cards = erased_cards
    app.state.card_digests = CardDigests.for_street(settings.jwt_secret.get_secret_value())
    app.state.notice = load_notice(settings.reference_dir)
    app.state.passport = passport_deps(settings)
    app.state.credentials = credential_deps(settings)
    app.state.sign_in = sign_in_deps(settings)
    for router in (sign_in_routes.router, sign_in_routes.discovery_router):
        app.include_router(router)

    checkpoints = CheckpointSchedule(
        passport_files.CHECKPOINTED,
        settings.database_url.get_secret_value(),
        settings.passport_checkpoint_interval_seconds,
        topics=consumers.PASSPORT_TOPICS,
        kafka=settings.kafka_client_kwargs(),
    )
    runtime.on_start(checkpoints.start)
    runtime.on_stop(checkpoints.stop)
    rolls = [
        ContactsRoll(
            lambda: runtime.pool,
            topic=spec.name,
            partitions=spec.partitions,
            source=SOURCE,
            every_s=settings.contacts_roll_every_s,
            wake_relay=runtime.outbox_signal.set,
        )
        for spec in (topics.CONTACTS, topics.RESIDENT_CARDS)
    ]

    async def start_rolls() -> None:
        for roll in rolls:
            roll.start()

    async def stop_rolls() -> None:
        for roll in rolls:
            await roll.stop()

    runtime.on_start(start_rolls)
    runtime.on_stop(stop_rolls)

    async def signing_key() -> None:
        # After the migrations; the first start of a street (or a changed secret) makes its key.
        await ensure_signing_key(runtime.uow, app.state.credentials)

    async def open_api_pool() -> None:
        # After the migrations (on_start runs after them); the relay shares the outbox signal.
        pool = await create_api_pool(settings.database_url.get_secret_value(), settings.api_pool_size)
        app.state.api_uow = UnitOfWorkFactory(pool, runtime.outbox_signal)

    async def close_api_pool() -> None:
        if getattr(app.state, "api_uow", None) is not None:
            await app.state.api_uow.pool.close()

    runtime.on_start(open_api_pool)
    runtime.on_start(signing_key)
    runtime.on_stop(close_api_pool)
    return app
