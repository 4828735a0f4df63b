"""One factory for every service's Kafka broker, with the defaults that lose nothing.

faststream's own defaults are unsafe for us (acks=1, no idempotence, auto-created topics with
one partition, auto-commit); see docs/decisions/0002-kafka-consumption.md.
"""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import SASLScram512

from shared import metrics
from shared.settings import ServiceSettings


def make_broker(settings: ServiceSettings, **kwargs) -> KafkaBroker:
    return KafkaBroker(
        # faststream takes a string as ONE host: split the list a cluster's KAFKA_BOOTSTRAP holds
        [host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip()],
        client_id=f"learnstreet-{settings.service}",
        security=SASLScram512(
            username=settings.kafka_username,
            password=settings.kafka_password.get_secret_value(),
            ssl_context=settings.kafka_ssl_context(),  # None over SASL_PLAINTEXT
            use_ssl=settings.kafka_security_protocol == "SASL_SSL",
        ),
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        allow_auto_create_topics=False,
        graceful_timeout=settings.graceful_timeout_s,
        # Per-message access lines go to DEBUG: at our volumes INFO logging halves throughput.
        logger=logging.getLogger("faststream.access.kafka"),
        log_level=logging.DEBUG,
        middlewares=(KafkaPrometheusMiddleware(registry=metrics.registry, app_name=settings.service),),
        **kwargs,
    )
