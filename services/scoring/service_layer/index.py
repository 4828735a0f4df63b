"""The live index: a cached snapshot recomputed from the aggregates with SQL, at most every
`refresh_interval_s` and only when events arrived (or every `idle_refresh_s` as windows move).

After each refresh it exports the Prometheus gauges, and for each community whose index changed
it writes the day's history row and an IndexUpdated event in one transaction (outbox), at most
once per community per second. Honour rules are evaluated on the same loop, at most every
`honours_interval_s` after attendance or residents changed, and so is the end of notice periods
(candidates awarded when their 公示 is over, by the engine's `clock`: tests inject their own).

With several instances, every one keeps its snapshot fresh (it serves the API), but only the
leader publishes IndexUpdated and evaluates honours: the instance holding a session-level advisory
lock on a connection of its own, tried again at every tick, so another instance takes over when
the leader stops or loses that connection. A publishing transaction also compares with today's
history under a transaction lock, so even two instances that both believe they lead (the old
one has not yet noticed its lost connection) publish a given index once
(docs/decisions/0007-scoring-replicas.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import asyncpg

from services.scoring.adapters import periods as period_store
from services.scoring.adapters import repository
from services.scoring.domain.assessment import effective
from services.scoring.domain.indicators import IndicatorSet
from services.scoring.domain.periods import annotate_late
from services.scoring.domain.scoring import score_community
from services.scoring.domain.street import LOCAL_TZ, STREET, local_day, period_of
from services.scoring.metrics import (
    HONOURS_AWARDED,
    HONOURS_NOMINATED,
    INDEX_FRESHNESS,
    INDEX_SCORE,
    INDEX_UPDATES,
    NOTICE_PASSES,
    RECTIFICATION_OVERDUE,
    REFRESH_DURATION,
)
from services.scoring.service_layer import handlers
from shared.db.uow import UnitOfWork
from shared.events import topics
from shared.events.catalogue import IndexUpdated
from shared.events.envelope import envelop, utcnow
from shared.reference import Reference

log = logging.getLogger(__name__)

# a batch from these topics can change who qualifies for an honour
HONOUR_INPUTS = frozenset({topics.ATTENDANCE.name, topics.RESIDENTS.name, topics.CATALOGUE.name})


class IndexEngine:
    def __init__(
        self,
        indicators: IndicatorSet,
        reference: Reference,
        *,
        refresh_interval_s: float = 0.25,
        idle_refresh_s: float = 10.0,
        honours_interval_s: float = 1.0,
        min_publish_interval_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.indicators = indicators
        self.reference = reference
        # The communities and the street, under STREET, as the index reports them.
        self.populations = {c.id: c.population for c in reference.communities.values()}
        self.populations[STREET] = reference.street.population
        self.names = {c.id: {"name_zh": c.name_zh, "name_en": c.name_en} for c in reference.communities.values()}
        self.names[STREET] = {"name_zh": reference.street.name_zh, "name_en": reference.street.name_en}
        self.themes = list(reference.themes)  # ids
        self.refresh_interval_s = refresh_interval_s
        self.idle_refresh_s = idle_refresh_s
        self.honours_interval_s = honours_interval_s
        self.min_publish_interval_s = min_publish_interval_s
        # The selection's time (approvals, objections, the end of notice periods): tests move it.
        self.clock = clock
        self.notice_passes = 0  # leader's looks for ended notice periods (tests wait for one to pass)
        self.snapshot: dict[str, dict[str, Any]] = {}
        self.computed_at: datetime | None = None
        self._pool: asyncpg.Pool | None = None
        self._uow: Callable[[], UnitOfWork] | None = None
        self._dirty = asyncio.Event()
        self._honours_due = False
        self._published: dict[str, tuple[float, tuple]] = {}
        self._task: asyncio.Task | None = None
        self._leader: asyncpg.Connection | None = None  # holds the leader lock while this instance leads
        self._applied_mark: tuple | None = None  # what all instances had applied at the last look
        self.generation = 0  # bumped at every refresh (tests and the dashboard can poll it)

    # called by the consumer after each committed batch
    def mark(self, topics_touched: set[str] | None = None) -> None:
        if topics_touched is None or topics_touched & HONOUR_INPUTS:
            self._honours_due = True
        self._dirty.set()

    async def start(self, pool: asyncpg.Pool, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._pool = pool
        self._uow = uow_factory
        self._honours_due = True
        await self.try_lead()
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="scoring-index")

    @property
    def leading(self) -> bool:
        return self._leader is not None

    async def try_lead(self) -> bool:
        """Whether this instance leads: checks that its lock connection is alive, or tries to take
        the lock when it does not lead (an instance that starts leading learns what today's history
        already holds, so it republishes none of it)."""
        if self._leader is not None:
            try:
                await self._leader.fetchval("SELECT 1", timeout=5)
                return True
            except Exception:  # the lock went with the connection; another instance may lead now
                log.warning("index leader connection lost; trying to lead again")
                await self._resign(unlock=False)
        conn = await self._pool.acquire()
        try:
            won = await repository.try_lead_index(conn)
        except BaseException:
            conn.terminate()
            await self._pool.release(conn)
            raise
        if not won:
            await self._pool.release(conn)
            return False
        self._leader = conn
        self._published.clear()
        published = await repository.published_on(conn, local_day(utcnow()))
        for community, recorded in published.items():
            self._published[community] = (time.monotonic() - self.min_publish_interval_s, self._fingerprint(recorded))
        log.info("this instance now publishes the index and awards honours")
        return True

    def _fingerprint(self, recorded: tuple[float, dict] | None) -> tuple | None:
        """A history row (total, aspects) in the form a snapshot's view is compared in."""
        if recorded is None:
            return None
        total, aspects = recorded
        return (total, tuple(aspects.get(a.id) for a in self.indicators.aspects))

    async def _resign(self, *, unlock: bool = True) -> None:
        """Stop leading. A connection that did not answer or cannot unlock is closed, never handed
        back to the pool still holding the lock."""
        conn, self._leader = self._leader, None
        if conn is None:
            return
        try:
            if not unlock:
                raise ConnectionError("leader connection unusable")
            await repository.resign_index(conn)
        except Exception:
            with contextlib.suppress(Exception):  # a connection the server closed is already gone
                conn.terminate()
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._resign()

    async def _run(self) -> None:
        last_honours = 0.0
        last_notices = 0.0
        honours_every = self.honours_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.idle_refresh_s)
            self._dirty.clear()
            spent = 0.0
            try:
                leading = await self.try_lead()
                if leading and await self._others_applied():
                    self._honours_due = True
                now = time.monotonic()
                if leading and self._honours_due and now - last_honours >= honours_every:
                    self._honours_due = False
                    await self.award_honours()
                    last_honours = time.monotonic()
                    # Rule evaluation scans the aggregates: never let it take over a quarter of the time.
                    honours_every = max(self.honours_interval_s, 4 * (last_honours - now))
                if leading and now - last_notices >= self.honours_interval_s:
                    await self.close_notices()
                    await self.freeze_closed_period()
                    last_notices = time.monotonic()
                started = time.monotonic()
                await self.refresh()
                spent = time.monotonic() - started
            except Exception:  # the loop must survive a database outage; the next tick retries
                log.exception("index refresh failed")
                self._dirty.set()
                await asyncio.sleep(1.0)
            # Under a burst the recomputation must not starve the consumer of database time.
            await asyncio.sleep(max(self.refresh_interval_s, 2 * spent))

    async def _others_applied(self) -> bool:
        """Whether any instance applied something since the last look. The leader alone evaluates
        the honour rules, but the attendance that earns an honour is applied by whichever instance
        owns its partition, and only that instance's engine is marked."""
        async with self._pool.acquire() as conn:
            mark = await repository.applied_watermark(conn)
        seen, self._applied_mark = self._applied_mark, mark
        return seen is not None and mark != seen

    async def award_honours(self) -> int:
        """The rule pass: nominates (or, with automatic selection, awards) what the rules find."""
        now = utcnow()
        # Last year's stays open for late data until its close (by the selection's clock, tests move it).
        periods = sorted({period_of(now), *self.indicators.periods.open_periods(local_day(self.clock()))})
        n = await handlers.evaluate_honours(
            self._uow, self.indicators.honours, self.indicators.selection, now, periods=periods
        )
        if n:
            counter = HONOURS_AWARDED if self.indicators.selection.mode == "automatic" else HONOURS_NOMINATED
            counter.labels("rule").inc(n)
        return n

    async def close_notices(self) -> int:
        """Awards the candidates whose notice period ended (by this engine's clock) with no objection open."""
        n = await handlers.close_notices(self._uow, self.clock())
        self.notice_passes += 1
        NOTICE_PASSES.inc()
        if n:
            HONOURS_AWARDED.labels("notice").inc(n)
        return n

    async def freeze_closed_period(self) -> str | None:
        """Stores the figures of the latest period that closed (by this engine's clock), once: its
        index as of its last day, late data up to the close included; attendance of its sessions
        arriving later counts in the period it arrives in (domain/periods.py)."""
        rules = self.indicators.periods
        today = local_day(self.clock())
        period = rules.to_freeze(today)
        if period is None:
            return None
        async with self._pool.acquire() as conn:
            if period in await period_store.frozen_periods(conn):
                return None
            last_day = date(int(period), 12, 31)
            end = datetime.combine(last_day + timedelta(days=1), day_time(), LOCAL_TZ) - timedelta(microseconds=1)
            views = await self.compute(conn, end)
            await period_store.freeze(conn, period, rules.closes_on(period), views, self.clock())
        log.info("period %s closed: its figures are frozen", period)
        return period

    async def compute(self, conn: asyncpg.Connection, now: datetime | None = None) -> dict[str, dict[str, Any]]:
        now = now or utcnow()
        values = await repository.compute_metrics(
            conn,
            today=local_day(now),
            now=now,
            populations=self.populations,
            themes=self.themes,
            denominators=self.indicators.denominators,
        )
        latest = await repository.latest_assessments(conn)
        assessed = {c: {i: effective(k)[0] for i, k in per.items()} for c, per in latest.items()}
        out = {}
        for community in self.populations:
            own = assessed.get(community, {})
            kinds = latest.get(community, {})
            if community == STREET and not own:
                own = self._mean_of_communities(assessed)
            level = "street" if community == STREET else "community"
            out[community] = score_community(self.indicators, values[community], own, level, kinds)
        # Late attendance counted in this period (its own had closed when it arrived), noted on the values.
        period = period_of(local_day(now))
        year = date(int(period), 1, 1)
        late = await period_store.late_counts(conn, year, year.replace(year=year.year + 1))
        for community, view in out.items():
            annotate_late(view, late.get(community, 0), period, self.indicators.periods)
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
            # By the selection's clock, as deadlines are the street's decisions too (tests move it).
            overdue = await repository.overdue_counts(conn, local_day(self.clock()))
        for community in self.populations:
            RECTIFICATION_OVERDUE.labels(community).set(overdue.get(community, 0))
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
        if not self.leading:
            return
        mono = time.monotonic()
        changed = []
        for community, view in snapshot.items():
            fingerprint = (view["total"], tuple(a["score"] for a in view["aspects"]))
            last = self._published.get(community)
            if last is not None and last[1] == fingerprint:
                continue
            if last is not None and mono - last[0] < self.min_publish_interval_s:
                self._dirty.set()  # publish on a later tick: at most one event per community per second
                continue
            changed.append((community, view, fingerprint))
        if not changed:
            return
        day = local_day(now)
        async with self._uow() as uow:
            recorded = await repository.published_on(uow.conn, day, lock=True)
            fresh = []
            for community, view, fingerprint in changed:
                if self._fingerprint(recorded.get(community)) == fingerprint:
                    self._published[community] = (mono, fingerprint)  # another instance has just published it
                else:
                    fresh.append((community, view, fingerprint))
            changed = fresh
            if not changed:
                return
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
