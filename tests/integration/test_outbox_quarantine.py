"""An outbox row Kafka can never take does not stall the rows behind it.

Seen in session 4: one enrolment outbox row whose `headers` was a JSON string instead of an object
(written by hand during an incident) made every relay batch fail, and about 12,000 enrolment events
waited behind it for 20 minutes. The relay now moves such a row to `outbox_quarantine` with the
reason, publishes the rest, and counts it.

The relay here is a real `OutboxRelay` with the activities service's Kafka principal, on tables in a
schema of its own in the activities database, so the running service's relay never sees these rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from shared import metrics
from shared.bus.producer import Producer
from shared.bus.relay import OutboxRelay
from shared.db.migrations import migrate
from shared.db.pool import _init_connection
from shared.events import codec
from shared.events.catalogue import CourseCreated
from shared.events.envelope import envelop
from tests.support import ROOT, env, headers_of, kafka_auth, read_topic, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch_pool() -> AsyncIterator[asyncpg.Pool]:
    schema = f"relay_test_{uuid.uuid4().hex[:10]}"
    dsn = env()["ACTIVITIES_DATABASE_URL"]
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=3, init=_init_connection, server_settings={"search_path": schema}
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn)  # the shared migrations: outbox, quarantine tables
        yield pool
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


class _ActivitiesKafka:
    """What `Producer` reads of a service's settings: the activities principal."""

    service = "activities"

    def kafka_client_kwargs(self) -> dict:
        return kafka_auth("activities")


@pytest.fixture
async def activities_producer() -> AsyncIterator[Producer]:
    producer = Producer(_ActivitiesKafka(), role="relay-test")  # type: ignore[arg-type]
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def _course(label: str):
    return envelop(CourseCreated(course_id=unique(label), title_zh="课", title_en="c", theme="t"), source="t")


async def _insert(conn: asyncpg.Connection, envelope, *, headers_sql: str = "$4::text::jsonb") -> None:
    event_id, topic, key, headers, payload = codec.outbox_row(envelope)
    await conn.execute(
        f"INSERT INTO outbox (event_id, topic, key, headers, payload) VALUES ($1, $2, $3, {headers_sql}, $5)",
        event_id, topic, key, headers, payload,
    )  # fmt: skip


async def test_a_row_with_unsendable_headers_is_quarantined_and_the_rows_behind_it_are_published(
    scratch_pool: asyncpg.Pool, activities_producer: Producer
) -> None:
    before, bad, after = _course("before"), _course("bad"), _course("after")
    async with scratch_pool.acquire() as conn:
        await _insert(conn, before)
        # what the incident wrote: the header object as a JSON *string* (to_jsonb of its text)
        await _insert(conn, bad, headers_sql="to_jsonb($4::text)")
        await _insert(conn, after)
    counted = metrics.OUTBOX_QUARANTINED.labels("activities.catalogue", "invalid_headers")._value.get()

    relay = OutboxRelay(scratch_pool, activities_producer, asyncio.Event())
    published = 0
    for _ in range(3):  # each call publishes one batch; a stalled relay raises on every one
        published += await relay.publish_pending()

    assert published == 2
    records = await read_topic(
        "activities.catalogue",
        until=lambda rs: str(after.id) in {headers_of(r).get("ce_id") for r in rs},
    )
    ids = [headers_of(r).get("ce_id") for r in records]
    assert str(before.id) in ids and str(bad.id) not in ids

    async with scratch_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        row = await conn.fetchrow("SELECT event_id, topic, reason, headers, payload FROM outbox_quarantine")
    assert row["event_id"] == bad.id and row["topic"] == "activities.catalogue"
    assert row["reason"] == "invalid_headers"
    assert orjson.loads(row["headers"]) == codec.outbox_row(bad)[3]  # as written (a JSON string), to mend
    assert row["payload"] == codec.outbox_row(bad)[4]
    assert metrics.OUTBOX_QUARANTINED.labels("activities.catalogue", "invalid_headers")._value.get() == counted + 1


async def test_a_row_larger_than_kafka_takes_is_quarantined_as_too_large(
    scratch_pool: asyncpg.Pool, activities_producer: Producer
) -> None:
    huge, after = _course("huge"), _course("after-huge")
    event_id, topic, key, headers, _ = codec.outbox_row(huge)
    async with scratch_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4::text::jsonb, $5)",
            event_id, topic, key, headers, b"x" * (2 * 1024 * 1024),
        )  # fmt: skip
        await _insert(conn, after)

    relay = OutboxRelay(scratch_pool, activities_producer, asyncio.Event())
    assert await relay.publish_pending() == 1
    async with scratch_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT reason FROM outbox_quarantine WHERE event_id = $1", huge.id) == "too_large"


def _learnstreet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "learnstreet"), *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


async def test_an_operator_lists_mends_and_releases_a_quarantined_row_which_the_service_then_publishes() -> None:
    broken = _course("mended")
    event_id, topic, key, headers, payload = codec.outbox_row(broken)
    conn = await asyncpg.connect(env()["ACTIVITIES_DATABASE_URL"])
    try:
        quarantine_id = await conn.fetchval(
            """INSERT INTO outbox_quarantine
                   (outbox_id, event_id, topic, key, headers, payload, reason, error, created_at)
               VALUES (0, $1, $2, $3, $4, $5, 'invalid_headers', 'refused before sending', now()) RETURNING id""",
            event_id, topic, key, orjson.dumps(headers).decode(), payload,
        )  # fmt: skip

        listed = _learnstreet("outbox", "quarantine", "list", "activities")
        assert listed.returncode == 0 and str(event_id) in listed.stdout.replace("\n", "")

        as_it_was = _learnstreet("outbox", "quarantine", "release", "activities", "--id", str(quarantine_id))
        assert as_it_was.returncode == 2
        assert as_it_was.stderr.strip().splitlines() == [
            f"error: row {quarantine_id} still cannot be sent (invalid_headers); mend it with --headers or leave it "
            "quarantined"
        ]
        not_json = _learnstreet("outbox", "quarantine", "release", "activities", "--id", str(quarantine_id),
                                "--headers", "{ce_id:")  # fmt: skip
        assert not_json.returncode == 2 and not_json.stderr.startswith("error: --headers is not JSON")

        released = _learnstreet("outbox", "quarantine", "release", "activities", "--id", str(quarantine_id),
                                "--headers", headers)  # fmt: skip
        assert released.returncode == 0, released.stderr
        assert await conn.fetchval("SELECT count(*) FROM outbox_quarantine WHERE id = $1", quarantine_id) == 0
    finally:
        await conn.execute("DELETE FROM outbox_quarantine WHERE event_id = $1", event_id)
        await conn.close()
    # the running activities service's relay publishes the released row
    await read_topic("activities.catalogue", until=lambda rs: str(event_id) in {headers_of(r).get("ce_id") for r in rs})
