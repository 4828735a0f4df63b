"""The password of the KRaft controller listener (SASL/PLAIN), generated once into .local/.

Brokers and controllers authenticate to the controller listeners as the admin principal with
this password; it is a separate secret from the admin's SCRAM password (which clients and the
admin tools use) so that the controller quorum's credential never leaves the Kafka nodes.
Kept apart from credentials.py so the controller secret has one owner and one file.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

from topology import KAFKA

CONTROLLER_SECRET = KAFKA / "controller.secret"

# letters and digits only: the value is written inside a JAAS string in server.properties
_ALPHABET = string.ascii_letters + string.digits


def controller_password(path: Path = CONTROLLER_SECRET) -> str:
    """The controller password, made on first use and kept (mode 600) for later starts."""
    if env := os.environ.get("KAFKA_CONTROLLER_PASSWORD"):
        return env
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    value = "".join(secrets.choice(_ALPHABET) for _ in range(40))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
