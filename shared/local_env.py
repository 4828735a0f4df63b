"""Settings of the command-line tools: the environment first, then the local credentials file
(`.local/credentials.env`, written by `make setup`; `LS_CREDENTIALS_FILE` names another one).

Either alone is enough: a deployment sets environment variables and has no file; a fresh shell on
the local stack has the file and no variables. A setting found in neither is a `MissingSetting`
naming the variable, for a one-line error instead of a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.bus import tls

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = ROOT / ".local" / "credentials.env"
CREDENTIALS_FILE_VARIABLE = "LS_CREDENTIALS_FILE"


class MissingSetting(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        several = "," in self.name
        how = "export them or put them" if several else f"export {self.name}=... or put it"
        return (
            f"{self.name} {'are' if several else 'is'} not set: {how} in {credentials_path()} "
            f"(`make setup` writes it locally; {CREDENTIALS_FILE_VARIABLE} names another file)"
        )


def credentials_path() -> Path:
    return Path(os.environ.get(CREDENTIALS_FILE_VARIABLE) or CREDENTIALS)


def read_credentials(path: Path | None = None) -> dict[str, str]:
    """The file's variables, each overridden by the environment when set there."""
    values: dict[str, str] = {}
    path = credentials_path() if path is None else path
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return {k: os.environ.get(k, v) for k, v in values.items()}


def setting(name: str, credentials: Mapping[str, str] | None = None) -> str | None:
    """`name` from `credentials` (default: the credentials file under the environment), else
    from the environment alone."""
    c = read_credentials() if credentials is None else credentials
    return c.get(name) or os.environ.get(name) or None


def require(name: str, credentials: Mapping[str, str] | None = None) -> str:
    value = setting(name, credentials)
    if value is None:
        raise MissingSetting(name)
    return value


def export_credentials(path: Path | None = None) -> None:
    """Give a service's command line (`python -m services.scoring rebuild`) what the stack gives the
    service: the file's variables, where the environment does not set them already."""
    for key, value in read_credentials(path).items():
        os.environ.setdefault(key, value)


def kafka_client_kwargs(
    principal: str, credentials: Mapping[str, str] | None = None, *, password: str | None = None
) -> dict[str, Any]:
    """aiokafka client arguments for a principal (admin, kiosk or a service) from the credentials;
    `password` overrides the stored one (tests of refused logins)."""
    c = read_credentials() if credentials is None else credentials
    prefix = "KAFKA_ADMIN" if principal == "admin" else f"{principal.upper()}_KAFKA"
    return tls.client_kwargs(
        setting("KAFKA_BOOTSTRAP", c) or "127.0.0.1:19092",
        setting(f"{prefix}_USERNAME", c) or principal,
        require(f"{prefix}_PASSWORD", c) if password is None else password,
        setting("KAFKA_SECURITY_PROTOCOL", c),
        setting("KAFKA_SSL_CA_FILE", c),
    )


def missing_settings(error: Exception, prefix: str) -> list[str]:
    """The environment variables a pydantic settings `ValidationError` says are missing."""
    names = []
    for e in getattr(error, "errors", list)():
        if e.get("type") == "missing" and e.get("loc"):
            field = str(e["loc"][0])
            names.append(field if field.isupper() else f"{prefix}{field.upper()}")
    return names


def run_service_cli(app: Any, service: str) -> None:
    """A service's command line (`python -m services.scoring rebuild`) with the settings the stack
    gives the service; a setting found nowhere is one line naming it, not pydantic's dump."""
    from pydantic import ValidationError

    export_credentials()
    try:
        app()
    except ValidationError as error:
        missing = missing_settings(error, f"{service.upper()}_")
        if not missing:
            raise
        print(f"error: {MissingSetting(', '.join(missing))}", file=sys.stderr)
        raise SystemExit(2) from None
