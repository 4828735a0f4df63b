"""Settings every service reads from its environment.

Each service reads its own variables with its name as prefix (`ACTIVITIES_DATABASE_URL`,
`ACTIVITIES_KAFKA_PASSWORD`, ...) and a few street-wide ones (`KAFKA_BOOTSTRAP`,
`LS_JWT_SECRET`). `make setup` writes local values into `.local/credentials.env`; a
deployment sets the same variables to point the services at an existing Kafka cluster and
PostgreSQL.
"""

from __future__ import annotations

import ssl
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.bus import tls


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service: str
    kafka_bootstrap: str = Field("127.0.0.1:19092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP"))
    kafka_username: str
    kafka_password: SecretStr
    kafka_security_protocol: str = Field("SASL_PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL"))
    kafka_ssl_ca_file: str | None = Field(None, validation_alias=AliasChoices("KAFKA_SSL_CA_FILE"))
    database_url: SecretStr
    db_pool_min: int = 2
    db_pool_max: int = 10
    http_host: str = "127.0.0.1"
    http_port: int
    jwt_secret: SecretStr = Field(validation_alias=AliasChoices("LS_JWT_SECRET"))
    # Reference data (communities, themes, honour names) a street can replace with its own; a
    # relative path is read from the repository root (shared/reference.py).
    reference_dir: str = Field("reference/pinghu", validation_alias=AliasChoices("LS_REFERENCE_DIR"))
    log_level: str = "INFO"
    consumer_max_records: int = 2000
    consumer_batch_timeout_ms: int = 50
    # Kept well below max.poll.interval.ms so a slow batch never expels the consumer.
    max_poll_interval_ms: int = 60_000
    # How soon the group notices a member gone without leaving (a crash) and how soon members hear
    # of a rebalance: aiokafka's 10 s and 3 s stalled the killed member's partitions 10 s and every
    # rebalance up to 3 s (docs/performance.md, latency with a rebalance). 6 s is the brokers'
    # group.min.session.timeout.ms; a heartbeat is a third of a session, as Kafka advises, or less.
    consumer_session_timeout_ms: int = Field(6_000, ge=6_000)
    consumer_heartbeat_interval_ms: int = Field(1_000, gt=0)
    graceful_timeout_s: float = 20.0
    # Bounded state (shared/db/retention.py): rows are kept at least this long, and longer while a
    # redelivery could still need them. The ledger must outlive a kiosk's offline retries, the
    # message history a revocation that tells a resident who was told of the honour.
    retention_inbox_days: float = Field(14.0, ge=0, validation_alias=AliasChoices("LS_RETENTION_INBOX_DAYS"))
    retention_checkins_days: float = Field(30.0, ge=0, validation_alias=AliasChoices("LS_RETENTION_CHECKINS_DAYS"))
    retention_notifications_days: float = Field(
        365.0, ge=0, validation_alias=AliasChoices("LS_RETENTION_NOTIFICATIONS_DAYS")
    )
    # The access audit is the street's record of who read whose data: kept three years by default,
    # never under six months (the floor the Cybersecurity Law sets for network logs).
    retention_audit_days: float = Field(1095.0, ge=183, validation_alias=AliasChoices("LS_RETENTION_AUDIT_DAYS"))
    retention_interval_s: float = Field(600.0, ge=0, validation_alias=AliasChoices("LS_RETENTION_INTERVAL_SECONDS"))
    retention_batch_rows: int = Field(5000, gt=0, validation_alias=AliasChoices("LS_RETENTION_BATCH_ROWS"))

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> ServiceSettings:
        if self.consumer_heartbeat_interval_ms * 3 > self.consumer_session_timeout_ms:
            raise ValueError(
                f"{self.service.upper()}_CONSUMER_HEARTBEAT_INTERVAL_MS must be at most a third of "
                f"{self.service.upper()}_CONSUMER_SESSION_TIMEOUT_MS (got {self.consumer_heartbeat_interval_ms} "
                f"and {self.consumer_session_timeout_ms}): set a shorter heartbeat or a longer session"
            )
        return self

    @model_validator(mode="after")
    def _kafka_transport_works(self) -> ServiceSettings:
        self.kafka_security_protocol, self.kafka_ssl_ca_file = tls.checked(
            self.kafka_security_protocol, self.kafka_ssl_ca_file
        )
        return self

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        return tls.ssl_context(self.kafka_security_protocol, self.kafka_ssl_ca_file)

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """aiokafka client arguments for this service's own principal."""
        return tls.client_kwargs(
            self.kafka_bootstrap, self.kafka_username, self.kafka_password.get_secret_value(),
            self.kafka_security_protocol, self.kafka_ssl_ca_file,
        )  # fmt: skip


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], service: str) -> S:
    return cls(service=service, _env_prefix=f"{service.upper()}_")  # type: ignore[call-arg]
