"""The local credentials file (`.local/credentials.env`, written by `make setup`), read the way
the stack reads it: a variable already set in the environment wins over the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = ROOT / ".local" / "credentials.env"


def read_credentials(path: Path = CREDENTIALS) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return {k: os.environ.get(k, v) for k, v in values.items()}


def kafka_client_kwargs(
    principal: str, credentials: dict[str, str] | None = None, *, password: str | None = None
) -> dict[str, Any]:
    """aiokafka client arguments for a principal (admin, kiosk or a service) from the credentials;
    `password` overrides the stored one (tests of refused logins)."""
    c = read_credentials() if credentials is None else credentials
    prefix = "KAFKA_ADMIN" if principal == "admin" else f"{principal.upper()}_KAFKA"
    return {
        "bootstrap_servers": c.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": c.get(f"{prefix}_USERNAME", principal),
        "sasl_plain_password": c[f"{prefix}_PASSWORD"] if password is None else password,
    }
