"""How every learnstreet client reaches Kafka: SCRAM-SHA-512 over plaintext (the local stack) or
over TLS (production), from two settings.

  KAFKA_SECURITY_PROTOCOL  SASL_PLAINTEXT or SASL_SSL
  KAFKA_SSL_CA_FILE        the CA bundle that signed the brokers' certificates (SASL_SSL only; the
                           system's trust store when unset)

aiokafka will not start a SASL_SSL client without an SSL context, and faststream passes none on
its own, so the context is built here once for the services' broker and producers, the CLI, the
tests and provisioning alike. It verifies the brokers' certificates and host names.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
MECHANISM = "SCRAM-SHA-512"


def checked(protocol: str | None, ca_file: str | None) -> tuple[str, str | None]:
    """(protocol, CA file) normalised; ValueError in one line saying what to set instead."""
    name = (protocol or "SASL_PLAINTEXT").strip().upper()
    if name not in PROTOCOLS:
        raise ValueError(
            f"KAFKA_SECURITY_PROTOCOL={protocol!r}: use SASL_PLAINTEXT or SASL_SSL"
            " (learnstreet authenticates every Kafka client with SCRAM)"
        )
    ca = (ca_file or "").strip() or None
    if ca and name != "SASL_SSL":
        raise ValueError(f"KAFKA_SSL_CA_FILE is set while KAFKA_SECURITY_PROTOCOL is {name}: set SASL_SSL")
    if ca and not os.path.isfile(ca):
        raise ValueError(f"KAFKA_SSL_CA_FILE={ca}: no such file (the CA bundle of the brokers' certificates)")
    return name, ca


def ssl_context(protocol: str, ca_file: str | None) -> ssl.SSLContext | None:
    """A verifying context for SASL_SSL, None for SASL_PLAINTEXT."""
    name, ca = checked(protocol, ca_file)
    return ssl.create_default_context(cafile=ca) if name == "SASL_SSL" else None


def client_kwargs(
    bootstrap: str, username: str, password: str, protocol: str | None = None, ca_file: str | None = None
) -> dict[str, Any]:
    """aiokafka client arguments for one principal."""
    name, ca = checked(protocol, ca_file)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "security_protocol": name,
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }
    if name == "SASL_SSL":
        kwargs["ssl_context"] = ssl_context(name, ca)
    return kwargs
