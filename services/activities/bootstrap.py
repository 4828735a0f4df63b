"""Wires the activities service: runtime (Kafka, PostgreSQL, outbox), caches, consumers, HTTP routes."""

from __future__ import annotations

import gc
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.activities.adapters.cache import Caches
from services.activities.adapters.cache_sync import CacheSync
from services.activities.adapters.checkin_outbox import CheckinOutbox
from services.activities.adapters.kiosk_trim import KioskTrim
from services.activities.adapters.retention import TABLES as PRUNED_TABLES
from services.activities.config import ActivitiesSettings
from services.activities.entrypoints import consumers, http, kiosk_keys_http, surveys_http
from services.activities.service_layer.checkins import CheckinProcessor
from services.activities.service_layer.handlers import Context
from shared.db.erasure import ErasedCards
from shared.events import topics
from shared.events.catalogue import KioskCheckin
from shared.events.topics import group_id
from shared.http.cors import parse_origins
from shared.kiosk_cards import CardDigests
from shared.reference import load_reference
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"
GC_GEN0_THRESHOLD = 50_000


def build_app(settings: ActivitiesSettings) -> FastAPI:
    runtime = Runtime(settings, MIGRATIONS)
    ctx = Context(
        uow=runtime.uow,
        caches=Caches(),
        reference=load_reference(settings.reference_dir),
        erased_cards=ErasedCards.for_service(settings.jwt_secret.get_secret_value(), "activities"),
        card_digests=CardDigests.for_street(settings.jwt_secret.get_secret_value()),
    )
    runtime.deps = ctx  # what the event handlers find in `uow.deps`
    outbox = CheckinOutbox(
        settings,
        lambda: runtime.pool,
        max_queued=settings.checkin_outbox_max_queued,
        sweep_older_than_s=settings.checkin_outbox_sweep_after_s,
    )
    processor = CheckinProcessor(
        ctx,
        outbox,
        grace=timedelta(seconds=settings.pending_grace_s),
        late_sync=timedelta(seconds=settings.late_sync_s),
        sweep_every_s=settings.pending_sweep_s,
    )
    consumers.register(runtime, processor)
    trim = KioskTrim.for_settings(
        settings, lambda: runtime.pool, topic=topics.KIOSK_CHECKINS.name, group_id=group_id(settings.service),
        every_s=settings.kiosk_trim_every_s, wake=ctx.erasure_signal,
    )  # fmt: skip
    runtime.retain(*PRUNED_TABLES)  # besides the inbox: the check-in ledger
    # Every instance learns every other instance's writes (catalogue, residents, seats) from a
    # connection of its own that LISTENs; it reloads everything whenever that connection is new.
    sync = CacheSync(
        lambda: asyncpg.connect(settings.database_url.get_secret_value()),
        ctx.caches,
        on_change=ctx.pending_signal.set,
    )
    consumers.document_checkin_schema(runtime.broker)
    # Documents the public kiosk contract in /asyncapi.json (POST /v1/checkins produces with it).
    runtime.broker.publisher(
        topics.KIOSK_CHECKINS.name,
        schema=KioskCheckin,
        title="kiosk.checkins:KioskCheckin",
        description="One kiosk scan (public contract; JSON body, Kafka key = resident id). "
        "See docs/kiosk-checkin-contract.md.",
    )

    async def load_caches() -> None:
        await sync.start()  # returns after the first full load
        # The caches are long-lived: keep the garbage collector from scanning them on every cycle.
        gc.freeze()
        # A 10,000-record batch keeps ~300k young objects alive for its duration; with the default
        # thresholds (700, 10, 10) they are scanned again and again and promoted, and full
        # collections follow. Measured: less CPU per check-in with rarer young collections.
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)
        await outbox.start()
        processor.start()
        trim.start()

    runtime.on_start(load_caches)
    # on_stop hooks run in reverse: the parked-check-in sweeper stops first, then the outbox
    # publishes what the last batches committed.
    runtime.on_stop(outbox.stop)
    runtime.on_stop(processor.stop)
    runtime.on_stop(trim.stop)
    runtime.on_stop(sync.stop)
    app = create_app(
        runtime,
        title="learnstreet activities",
        description="Venues, courses and sessions, needs voting, kiosk check-ins to attendance.",
        routers=[http.router, kiosk_keys_http.router, surveys_http.router],
        cors_origins=parse_origins(settings.cors_origins),
    )
    app.state.activities = ctx
    return app
