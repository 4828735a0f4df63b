"""`learnstreet outbox quarantine list|release SERVICE`: outbox rows the relay moved aside because
Kafka could never take them (shared/bus/relay.py, docs/runbooks/LearnstreetOutboxQuarantined.md).

Release puts a row back at the end of the outbox, with corrected headers when given, once it
passes the relay's own check; the relay then publishes it like any other row."""

from __future__ import annotations

import asyncio
import sys

import orjson
import typer
from rich.console import Console
from rich.table import Table

from shared.bus.relay import unsendable_reason
from shared.local_env import setting

outbox_app = typer.Typer(help="the transactional outbox / 事件发件箱", no_args_is_help=True)
quarantine_app = typer.Typer(help="rows Kafka could never take / 无法发布的发件箱记录", no_args_is_help=True)
outbox_app.add_typer(quarantine_app, name="quarantine")

_ROWS = """SELECT id, outbox_id, event_id, topic, key, headers, payload, reason, error, created_at, quarantined_at
             FROM outbox_quarantine WHERE $1::bigint IS NULL OR id = $1 ORDER BY id"""


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _database_url(service: str) -> str:
    from shared.events.topics import SERVICES

    if service not in SERVICES:
        _fail(f"unknown service {service!r}; one of: {', '.join(SERVICES)}")
    url = setting(f"{service.upper()}_DATABASE_URL")
    if url is None:
        _fail(f"{service.upper()}_DATABASE_URL is not set (nor in .local/credentials.env): run `make up` or export it")
    return url


async def _connect(service: str):
    import asyncpg

    return await asyncpg.connect(_database_url(service))


@quarantine_app.command("list")
def quarantine_list(service: str = typer.Argument(..., help="activities, enrolment, scoring or notify")) -> None:
    """Outbox rows moved aside, with the reason / 列出被隔离的发件箱记录."""

    async def rows() -> list:
        conn = await _connect(service)
        try:
            return await conn.fetch(_ROWS, None)
        finally:
            await conn.close()

    found = asyncio.run(rows())
    table = Table(title=f"{service}: {len(found)} quarantined outbox rows / 条隔离的发件箱记录")
    for column in ("id", "event", "topic", "reason", "bytes", "error", "quarantined at"):
        table.add_column(column)
    for r in found:
        size = str(len(r["payload"] or b""))
        table.add_row(
            str(r["id"]),
            str(r["event_id"]),
            r["topic"],
            r["reason"],
            size,
            r["error"][:60],
            r["quarantined_at"].isoformat(),
        )
    Console().print(table)


@quarantine_app.command("release")
def quarantine_release(
    service: str = typer.Argument(..., help="activities, enrolment, scoring or notify"),
    id: int = typer.Option(..., "--id", help="the quarantined row (see `list`)"),
    headers: str = typer.Option(None, help='corrected headers, a JSON object of strings: \'{"ce_id": "..."}\''),
) -> None:
    """Put a mended row back into the outbox / 修正后放回发件箱."""

    async def release() -> str:
        conn = await _connect(service)
        try:
            async with conn.transaction():
                row = await conn.fetchrow(_ROWS + " FOR UPDATE", id)
                if row is None:
                    _fail(f"no quarantined outbox row {id} in {service}: see `learnstreet outbox quarantine list`")
                try:
                    mended = orjson.loads(headers if headers is not None else row["headers"])
                except orjson.JSONDecodeError as error:
                    _fail(f'--headers is not JSON ({error}); give an object such as \'{{"ce_id": "..."}}\'')
                candidate = {"topic": row["topic"], "key": row["key"], "headers": mended, "payload": row["payload"]}
                if (reason := unsendable_reason(candidate)) is not None:
                    _fail(f"row {id} still cannot be sent ({reason}); mend it with --headers or leave it quarantined")
                await conn.execute(
                    """INSERT INTO outbox (event_id, topic, key, headers, payload)
                       VALUES ($1, $2, $3, $4::text::jsonb, $5)""",
                    row["event_id"], row["topic"], row["key"], orjson.dumps(mended).decode(), row["payload"],
                )  # fmt: skip
                await conn.execute("DELETE FROM outbox_quarantine WHERE id = $1", id)
                return row["topic"]
        finally:
            await conn.close()

    topic = asyncio.run(release())
    print(f"row {id} is back in {service}'s outbox; the relay publishes it to {topic}")
