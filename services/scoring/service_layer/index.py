"""The live index: a cached snapshot recomputed from the aggregates with SQL, at most every
`refresh_interval_s` and only when events arrived (or every `idle_refresh_s` as windows move).

After each refresh it exports the Prometheus gauges, and for each community whose index changed
it writes the day's history row and an IndexUpdated event in one transaction (outbox), at most
once per community per second. Honour rules are evaluated on the same loop, at most every
`honours_interval_s` after attendance or residents changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from services.scoring.adapters import repository
from services.scoring.domain.indicators import IndicatorSet
from services.scoring.domain.scoring import score_community
from services.scoring.domain.street import STREET, local_day
from services.scoring.metrics import HONOURS_AWARDED, INDEX_FRESHNESS, INDEX_SCORE, INDEX_UPDATES, REFRESH_DURATION
from services.scoring.service_layer import handlers
from shared.db.uow import UnitOfWork
from shared.events.catalogue import IndexUpdated
from shared.events.envelope import envelop, utcnow
from shared.reference import Reference

log = logging.getLogger(__name__)


class IndexEngine:
    def __init__(
        self,
        indicators: IndicatorSet,
        reference: Reference,
        *,
        refresh_interval_s: float = 0.25,
        idle_refresh_s: float = 10.0,
        honours_interval_s: float = 1.0,
    ) -> None:
        self.indicators = indicators
        self.reference = reference
        # The communities and the street, under STREET, as the index reports them.
        self.populations = {c.id: c.population for c in reference.communities.values()}
        self.populations[STREET] = reference.street.population
        self.names = {c.id: {"name_zh": c.name_zh, "name_en": c.name_en} for c in reference.communities.values()}
        self.names[STREET] = {"name_zh": reference.street.name_zh, "name_en": reference.street.name_en}
        self.n_themes = len(reference.themes) or 12
        self.refresh_interval_s = refresh_interval_s
        self.idle_refresh_s = idle_refresh_s
        self.honours_interval_s = honours_interval_s
        self.snapshot: dict[str, dict[str, Any]] = {}
        self.computed_at: datetime | None = None
        self._pool: asyncpg.Pool | None = None
        self._uow: Callable[[], UnitOfWork] | None = None
        self._dirty = asyncio.Event()
        self._honours_due = False
        self._published: dict[str, tuple[float, tuple]] = {}
        self._task: asyncio.Task | None = None
        self.generation = 0  # bumped at every refresh (tests and the dashboard can poll it)

    # called by the consumer after each committed batch
    def mark(self, topics_touched: set[str] | None = None) -> None:
        if topics_touched is None or topics_touched & {"activities.attendance", "enrolment.residents",
                                                       "activities.catalogue"}:  # fmt: skip
            self._honours_due = True
        self._dirty.set()

    async def start(self, pool: asyncpg.Pool, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._pool = pool
        self._uow = uow_factory
        self._honours_due = True
        # A restart republishes nothing that today's history already holds.
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT community_id, total, aspects FROM index_history WHERE day = $1", local_day(utcnow())
            )
        for r in rows:
            aspects = tuple(r["aspects"].get(a.id) for a in self.indicators.aspects)
            self._published[r["community_id"]] = (time.monotonic() - 1.0, (r["total"], aspects))
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="scoring-index")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last_honours = 0.0
        honours_every = self.honours_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.idle_refresh_s)
            self._dirty.clear()
            spent = 0.0
            try:
                now = time.monotonic()
                if self._honours_due and now - last_honours >= honours_every:
                    self._honours_due = False
                    await self.award_honours()
                    last_honours = time.monotonic()
                    # Rule evaluation scans the aggregates: never let it take over a quarter of the time.
                    honours_every = max(self.honours_interval_s, 4 * (last_honours - now))
                started = time.monotonic()
                await self.refresh()
                spent = time.monotonic() - started
            except Exception:  # the loop must survive a database outage; the next tick retries
                log.exception("index refresh failed")
                self._dirty.set()
                await asyncio.sleep(1.0)
            # Under a burst the recomputation must not starve the consumer of database time.
            await asyncio.sleep(max(self.refresh_interval_s, 2 * spent))

    async def award_honours(self) -> int:
        n = await handlers.evaluate_honours(self._uow, self.indicators.honours, utcnow())
        if n:
            HONOURS_AWARDED.labels("rule").inc(n)
        return n

    async def compute(self, conn: asyncpg.Connection, now: datetime | None = None) -> dict[str, dict[str, Any]]:
        now = now or utcnow()
        values = await repository.compute_metrics(
            conn, today=local_day(now), now=now, populations=self.populations, n_themes=self.n_themes
        )
        assessed = await repository.latest_assessments(conn)
        out = {}
        for community in self.populations:
            own = assessed.get(community, {})
            if community == STREET and not own:
                own = self._mean_of_communities(assessed)
            out[community] = score_community(self.indicators, values[community], own)
        return out

    def _mean_of_communities(self, assessed: dict[str, dict[str, float]]) -> dict[str, float]:
        # Without street-level assessments, the street takes the mean of its communities' ones.
        sums: dict[str, list[float]] = {}
        for community, scores in assessed.items():
            if community == STREET:
                continue
            for ind, s in scores.items():
                sums.setdefault(ind, []).append(s)
        return {ind: sum(v) / len(v) for ind, v in sums.items()}

    async def refresh(self) -> None:
        started = time.perf_counter()
        now = utcnow()
        async with self._pool.acquire() as conn:
            snapshot = await self.compute(conn, now)
        self.snapshot = snapshot
        self.computed_at = now
        self.generation += 1
        REFRESH_DURATION.observe(time.perf_counter() - started)
        INDEX_FRESHNESS.set(now.timestamp())
        for community, view in snapshot.items():
            INDEX_SCORE.labels(community, "total").set(view["total"])
            for aspect in view["aspects"]:
                INDEX_SCORE.labels(community, aspect["id"]).set(aspect["score"])
        await self._publish_changes(snapshot, now)

    async def _publish_changes(self, snapshot: dict[str, dict[str, Any]], now: datetime) -> None:
        mono = time.monotonic()
        changed = []
        for community, view in snapshot.items():
            fingerprint = (view["total"], tuple(a["score"] for a in view["aspects"]))
            last = self._published.get(community)
            if last is not None and last[1] == fingerprint:
                continue
            if last is not None and mono - last[0] < 1.0:
                self._dirty.set()  # publish on a later tick: at most one event per community per second
                continue
            changed.append((community, view, fingerprint))
        if not changed:
            return
        day = local_day(now)
        async with self._uow() as uow:
            rows = []
            for community, view, _ in changed:
                aspects = {a["id"]: a["score"] for a in view["aspects"]}
                rows.append((community, day, view["total"], aspects))
                uow.publish(
                    envelop(
                        IndexUpdated(community_id=community, total=view["total"], aspects=aspects, computed_at=now),
                        source=handlers.SOURCE,
                    )
                )
            await repository.save_history(uow.conn, rows)
            await uow.commit()
        for community, _, fingerprint in changed:
            self._published[community] = (mono, fingerprint)
        INDEX_UPDATES.inc(len(changed))
