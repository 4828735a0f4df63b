"""Measure notify end to end on the local stack (not a test: run it by hand).

    .venv/bin/python -m tests.integration.notify.measure_delivery [N]

Publishes N contacts and N confirmed enrolments (half SMS, half e-mail, no quiet hours) and
reports how long until all N notifications are `sent`, from the first publish."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta

import asyncpg

from tests.integration.notify.helpers import confirmed, contact, mailbox, phone, publish
from tests.support import env, unique


async def main(n: int) -> None:
    residents = [unique("bench") for _ in range(n)]
    contacts = [
        contact(r, phone=phone()) if i % 2 else contact(r, email=mailbox(), preferred_channel="email")
        for i, r in enumerate(residents)
    ]
    # with the session's start, as the enrolment service sends it (else a message waits for the time)
    enrolments = [confirmed(r, starts_in=timedelta(days=5)) for r in residents]
    conn = await asyncpg.connect(env()["NOTIFY_DATABASE_URL"])
    try:
        t0 = time.monotonic()
        await publish("enrolment", *contacts)
        await publish("enrolment", *enrolments)
        t_published = time.monotonic() - t0
        while True:
            sent = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE resident_id = ANY($1::text[]) AND status = 'sent'"
                " AND kind = 'enrolment_confirmed'",
                residents,
            )
            if sent >= n or time.monotonic() - t0 > 300:
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - t0
        latency = await conn.fetchrow(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - triggered_at)) AS p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - triggered_at)) AS p99
               FROM notifications WHERE resident_id = ANY($1::text[]) AND kind = 'enrolment_confirmed'""",
            residents,
        )
    finally:
        await conn.close()
    print(f"{sent}/{n} sent in {elapsed:.2f}s (publishing took {t_published:.2f}s): {sent / elapsed:.0f} msg/s; "
          f"event->sent latency p50 {latency['p50']:.3f}s p99 {latency['p99']:.3f}s")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
