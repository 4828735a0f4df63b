"""Versioned SQL migrations, applied at service start and safe to run twice (or concurrently).

Migrations are files named `NNNN_description.sql`. The shared ones (outbox, inbox) come first,
then those of the shared read models the service keeps (`shared/<model>/migrations`, passed by
its bootstrap: e.g. the catalogue), then the service's own, which may extend the read models'
tables. Each file runs in its own transaction and is recorded in `schema_migrations` under its
source (`shared`, the read model's name, the service's name). An advisory lock serialises
several instances starting at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x1EA7_5700


def source_of(directory: Path) -> str:
    """services/<name>/adapters/migrations -> "<name>"; shared/<model>/migrations -> "<model>"."""
    if directory == SHARED_MIGRATIONS:
        return "shared"
    if directory.parent.name == "adapters":
        return directory.parent.parent.name
    return directory.parent.name


def discover(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} must be named NNNN_description.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


async def migrate(conn: asyncpg.Connection, *directories: Path) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   source text NOT NULL, version int NOT NULL, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, version))"""
        )
        for directory in (SHARED_MIGRATIONS, *directories):
            source = source_of(directory)
            if directory.parent.name == "adapters":  # early databases recorded a service's files as "adapters"
                await conn.execute("UPDATE schema_migrations SET source = $1 WHERE source = 'adapters'", source)
            done = {
                r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations WHERE source=$1", source)
            }
            for version, path in discover(directory):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations(source, version, name) VALUES ($1, $2, $3)",
                        source,
                        version,
                        path.name,
                    )
                applied_now.append(f"{source}/{path.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
