"""The local credentials file (`.local/credentials.env`, written by `make setup`), read the way
the stack reads it: a variable already set in the environment wins over the file."""

from __future__ import annotations

import os
from pathlib import Path

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
