"""Cost of naming each scan's resident before a check-in batch is judged (ADR 10, amendment
2026-12-07): a batch of scans by resident id (the baseline, what the pipeline stage sends) against
the same batch by kiosk card (a keyed digest per scan, then the id from the map), in one process,
without the database (the caches know every card, as on a warmed-up instance).

    .venv/bin/python -m bench.kiosk_cards
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from services.activities.adapters.cache import Caches, ResidentInfo
from services.activities.service_layer.checkins import CheckinProcessor
from shared.events.catalogue import KioskCheckin
from shared.kiosk_cards import CardDigests

N = 10_000
SECRET = "bench-street-secret-of-at-least-32-characters"


class _NoDatabase:
    async def fetch(self, sql: str, *args):
        raise AssertionError(f"a warmed-up batch asked the database: {sql[:60]}")


def _batch(values: list[str]) -> list[tuple[KioskCheckin, None]]:
    at = datetime.now(UTC)
    return [
        (KioskCheckin(checkin_id=uuid.uuid4(), kiosk_id="k", venue_id="v", resident_id=v, scanned_at=at), None)
        for v in values
    ]


async def _per_scan_us(processor: CheckinProcessor, items: list, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        await processor._identified(_NoDatabase(), items)
    return (time.perf_counter() - started) / rounds / len(items) * 1e6


async def main() -> None:
    digests = CardDigests.for_street(SECRET)
    caches = Caches()
    ids = [f"r-{i:06d}" for i in range(N)]
    cards = [f"44030719900{i:07d}" for i in range(N)]
    caches.residents = {r: ResidentInfo("xinnan", "adult", False) for r in ids}
    caches.cards = {digests.of(c): r for c, r in zip(cards, ids, strict=True)}
    ctx = SimpleNamespace(caches=caches, erased_cards=None, card_digests=digests)
    processor = CheckinProcessor(ctx, None, grace=None, late_sync=None, sweep_every_s=30)
    by_id = await _per_scan_us(processor, _batch(ids), 50)
    by_card = await _per_scan_us(processor, _batch(cards), 10)
    print(f"naming residents, {N:,} scans a batch: by id {by_id:.2f} µs/scan (baseline), "
          f"by card {by_card:.2f} µs/scan (+{by_card - by_id:.2f})")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
