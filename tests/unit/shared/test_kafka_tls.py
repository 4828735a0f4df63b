"""Services reach Kafka over TLS when told to (KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SSL_CA_FILE):
every client they build (faststream's broker, the transactional producer, the CLI's admin calls)
gets an SSL context that verifies the brokers, or a one-line refusal at start-up."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from shared.bus.broker import make_broker
from shared.local_env import kafka_client_kwargs
from shared.settings import ServiceSettings

BASE = {"service": "scoring", "kafka_username": "scoring", "kafka_password": "pw", "database_url": "postgresql://x",
        "http_port": 8103, "LS_JWT_SECRET": "s" * 32}  # fmt: skip


def settings(**values) -> ServiceSettings:
    return ServiceSettings(**{**BASE, **values})


def test_sasl_ssl_gives_every_client_a_verifying_context() -> None:
    s = settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    kwargs = s.kafka_client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    consumer = _broker_client_kwargs(make_broker(s))  # what faststream hands aiokafka
    assert consumer["security_protocol"] == "SASL_SSL" and isinstance(consumer["ssl_context"], ssl.SSLContext)


def test_a_producer_built_from_the_settings_reaches_the_tls_handshake() -> None:
    """Before: aiokafka refused to start ("`ssl_context` is mandatory"), so a service configured
    for SASL_SSL could not run its outbox relay at all."""
    kwargs = settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", kafka_bootstrap="127.0.0.1:1").kafka_client_kwargs()

    async def start() -> None:
        producer = AIOKafkaProducer(**kwargs, request_timeout_ms=1000)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):  # nothing listens on port 1: it got as far as connecting
        asyncio.run(start())


def test_plaintext_stays_as_the_local_stack_runs_it() -> None:
    kwargs = settings().kafka_client_kwargs()
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in kwargs
    assert _broker_client_kwargs(make_broker(settings()))["security_protocol"] == "SASL_PLAINTEXT"


def test_the_brokers_ca_file_is_the_one_trusted(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(_a_certificate())
    context = settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SSL_CA_FILE=str(ca)).kafka_client_kwargs()[
        "ssl_context"
    ]
    assert len(context.get_ca_certs()) == 1


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "SASL_PLAINTEXT or SASL_SSL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}, "no such file"),
        ({"KAFKA_SSL_CA_FILE": "/etc/hosts"}, "SASL_SSL"),
    ],
)
def test_settings_that_cannot_work_stop_the_start(values, says) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    assert says in str(refused.value)


def test_the_cli_and_tests_clients_follow_the_same_settings(tmp_path) -> None:
    creds = {"KAFKA_BOOTSTRAP": "k:9093", "KAFKA_ADMIN_USERNAME": "admin", "KAFKA_ADMIN_PASSWORD": "pw",
             "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}  # fmt: skip
    kwargs = kafka_client_kwargs("admin", creds)
    assert kwargs["security_protocol"] == "SASL_SSL" and isinstance(kwargs["ssl_context"], ssl.SSLContext)
    plain = kafka_client_kwargs("admin", {**creds, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert plain["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in plain


def _broker_client_kwargs(broker) -> dict:
    """The arguments faststream 0.7 builds its aiokafka consumers with."""
    return broker.config.broker_config.builder.keywords


def _a_certificate() -> str:
    text = open(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt", encoding="ascii").read()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return text[text.index("-----BEGIN CERTIFICATE-----") : end] + "\n"
