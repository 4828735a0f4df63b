"""A period's figures (issue 14): frozen once the period closed, provisional while it is open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from services.scoring.adapters import periods as period_store
from services.scoring.domain.street import LOCAL_TZ, local_day
from services.scoring.service_layer.index import IndexEngine
from shared.db.uow import UnitOfWork
from shared.http.errors import Invalid, NotFound


async def figures(engine: IndexEngine, uow: Callable[[], UnitOfWork], period: str, community_id: str) -> dict[str, Any]:
    """The index of `community_id` for `period` (a year): the snapshot stored at its close, or,
    while it takes late data, the index as of its last day computed now (`state` says which)."""
    if not period.isdigit() or len(period) != 4:
        raise Invalid(f"a period is a year, got {period!r}", field="period")
    if community_id not in engine.populations:
        raise NotFound(f"unknown community {community_id!r}", field="community_id")
    rules = engine.indicators.periods
    today = local_day(engine.clock())
    out: dict[str, Any] = {"period": period, "community_id": community_id, "closes_on": rules.closes_on(period),
                           "open_periods": rules.open_periods(today)}  # fmt: skip
    if int(period) > today.year:
        raise NotFound(f"period {period} has not begun", field="period")
    async with uow() as u:
        frozen = await period_store.snapshot(u.conn, period, community_id)
        if frozen is not None:
            return {**out, "state": "closed", "frozen_at": frozen["frozen_at"], "index": frozen["view"]}
        end = datetime.combine(date(int(period) + 1, 1, 1), time(), LOCAL_TZ) - timedelta(microseconds=1)
        views = await engine.compute(u.conn, min(end, engine.clock()))
    state = "closed_not_frozen" if rules.closed(period, today) else "open"
    return {**out, "state": state, "frozen_at": None, "index": views[community_id]}
