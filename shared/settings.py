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
