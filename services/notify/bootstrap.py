"""Wires the notify service: runtime (Kafka, PostgreSQL, outbox), consumers, delivery worker,
channels and HTTP routes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.notify.adapters.carrier_sms import CarrierSms, SmsRegistry
from services.notify.adapters.channels import SmsGateway, SmtpMailer
from services.notify.adapters.clock import Clock, SystemClock
from services.notify.adapters.faults import CrashAfterSend
from services.notify.adapters.retention import TABLES as PRUNED_TABLES
from services.notify.adapters.templates import Templates
from services.notify.config import NotifySettings, mail_from
from services.notify.entrypoints import consumers, http
from services.notify.service_layer.delivery import Channels, DeliveryWorker
from services.notify.service_layer.handlers import Deps
from shared import catalogue
from shared.reference import load_reference, resolve
from shared.runtime import Runtime, create_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def build_sms(settings: NotifySettings):
    if settings.sms_provider == "generic":
        return SmsGateway(settings.sms_url, settings.sms_token.get_secret_value(), settings.sms_timeout_s)
    registry = SmsRegistry.load(settings.sms_templates or resolve(settings.reference_dir) / "sms_templates.yaml")
    # refuses to start when a template says other words than the carrier has registered
    registry.check(Templates(settings.templates_dir, load_reference(settings.reference_dir)).texts)
    return CarrierSms(
        settings.sms_carrier_url, settings.sms_carrier_key.get_secret_value(), registry, settings.sms_timeout_s
    )


def build_channels(settings: NotifySettings) -> Channels:
    return Channels(
        sms=build_sms(settings),
        email=SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=mail_from(settings, load_reference(settings.reference_dir)),
            domain=settings.mail_domain,
            timeout_s=settings.smtp_timeout_s,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_start_tls,
        ),
    )


def build_app(settings: NotifySettings, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    runtime = Runtime(settings, MIGRATIONS, read_models=(catalogue.MIGRATIONS,))
    # fails at start if a template is missing
    templates = Templates(settings.templates_dir, load_reference(settings.reference_dir))
    channels = build_channels(settings)
    if settings.fault_crash_after_send:  # crash tests only
        channels = CrashAfterSend(channels, settings.fault_crash_after_send)
    worker = DeliveryWorker(
        uow_factory=runtime.uow, settings=settings, channels=channels, templates=templates, clock=clock
    )
    runtime.deps = Deps(
        clock=clock,
        contact_wait=timedelta(seconds=settings.contact_wait_s),
        wake_delivery=worker.wake.set,
        catalogue_wait=timedelta(seconds=settings.catalogue_wait_s),
    )
    consumers.register(runtime)
    runtime.retain(*PRUNED_TABLES)  # besides the inbox: settled messages

    async def start_worker() -> None:
        worker.start()

    runtime.on_start(start_worker)
    runtime.on_stop(worker.stop)
    app = create_app(
        runtime,
        title="learnstreet notify",
        description="Tells residents about their enrolments, sessions, reminders and honours by SMS and e-mail.",
        routers=[http.router],
    )
    app.state.clock = clock
    app.state.worker = worker
    return app
