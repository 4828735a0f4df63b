"""Latency under load: a steady rate of kiosk check-ins; for a sample of them (one per 10 ms tick) the
time from the kiosk's send (= its `scanned_at`) to the scoring commit that made it visible.

Scoring keeps no commit time per attendance, so the bench polls scoring's database every
`poll_s` for the sampled (session, resident) pairs still outstanding; a sample's latency is the
poll that first saw it minus its send time. The error is at most one poll interval plus a query
(~10 ms), reported with the figures."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from bench import env
from bench.street import Street, checkin
from shared.events import topics


@dataclass
class LatencyRun:
    rate: int
    seconds: float
    sent: int = 0
    samples_ms: list[float] = field(default_factory=list)
    missing: int = 0  # sampled check-ins not committed within the wait after the load
    achieved_rate: float = 0.0


async def with_rebalance(
    street: Street,
    *,
    rate: int = 1000,
    seconds: float = 60.0,
    sig: int = signal.SIGKILL,
    stage: str = "latency_rebalance",
) -> tuple[LatencyRun, list[str]]:
    """The latency load with two scoring instances, of which the second is stopped with `sig` a third
    into the load and started again at two thirds: two rebalances of scoring's group under load.
    SIGKILL is a crash: the group waits the session timeout before it gives the dead member's
    partitions away. SIGTERM is a rolling restart: the member leaves the group as it stops.
    The second instance is stopped afterwards. Also what happened when (for the notes)."""
    events: list[str] = []
    how = signal.Signals(sig).name
    env.start_service("scoring", index=2)
    await env.wait_ready("scoring", index=2)
    await asyncio.sleep(8.0)  # past the group's rebalance that the second instance's join caused
    t0 = time.monotonic()

    async def faults() -> None:
        await asyncio.sleep(seconds / 3)
        await asyncio.to_thread(env.stop_instance, "scoring", 2, sig)
        events.append(f"scoring-2 stopped ({how}) at {time.monotonic() - t0:.1f} s")
        await asyncio.sleep(seconds / 3)
        env.start_service("scoring", index=2)
        events.append(f"scoring-2 started again at {time.monotonic() - t0:.1f} s")

    try:
        result, _ = await asyncio.gather(run(street, rate=rate, seconds=seconds, stage=stage), faults())
    finally:
        await asyncio.to_thread(env.stop_instance, "scoring", 2)
    return result, events


async def run(
    street: Street, *, rate: int = 1000, seconds: float = 60.0, poll_s: float = 0.01, stage: str = "latency"
) -> LatencyRun:
    result = LatencyRun(rate=rate, seconds=seconds)
    pairs = street.pairs(stage)
    outstanding: dict[tuple[str, str], float] = {}  # (session, resident) → wall-clock send time
    sending = True
    producer = await env.producer("kiosk", linger_ms=1)
    conn = await env.database("scoring")

    async def load() -> None:
        nonlocal sending
        tick = 0.01
        per_tick = max(1, round(rate * tick))
        t0 = time.monotonic()
        ticks = int(seconds / tick)
        pending = []
        try:
            for i in range(ticks):
                await asyncio.sleep(max(0.0, t0 + i * tick - time.monotonic()))
                now = datetime.now(UTC)
                for j in range(per_tick):
                    resident, session = next(pairs)
                    value = checkin(street, resident, session, now)
                    pending.append(await producer.send(topics.KIOSK_CHECKINS.name, value, key=resident[0].encode()))
                    if j == 0:
                        outstanding[(session[0], resident[0])] = now.timestamp()
                    result.sent += 1
                if len(pending) > 5000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
            result.achieved_rate = result.sent / (time.monotonic() - t0)
        finally:
            sending = False

    async def watch() -> None:
        grace_until: float | None = None
        while True:
            if not sending and grace_until is None:
                grace_until = time.monotonic() + 30
            if grace_until is not None and (not outstanding or time.monotonic() > grace_until):
                result.missing = len(outstanding)
                return
            if outstanding:
                keys = list(outstanding)
                try:
                    rows = await fetch(keys)
                except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                    await reconnect()  # a fault-injection test terminated our backend
                    continue
                seen = time.time()
                for row in rows:
                    sent_at = outstanding.pop((row["session_id"], row["resident_id"]), None)
                    if sent_at is not None:
                        result.samples_ms.append((seen - sent_at) * 1000)
            await asyncio.sleep(poll_s)

    async def fetch(keys: list[tuple[str, str]]) -> list:
        return await conn.fetch(
            """SELECT a.session_id, a.resident_id FROM attendance a
                       JOIN unnest($1::text[], $2::text[]) AS m(s, r) ON a.session_id = m.s AND a.resident_id = m.r""",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )

    async def reconnect() -> None:
        nonlocal conn
        conn = await env.database("scoring")

    try:
        await asyncio.gather(load(), watch())
    finally:
        await producer.stop()
        await conn.close()
    return result
