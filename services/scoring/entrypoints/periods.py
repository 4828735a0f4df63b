"""HTTP: a period's figures, frozen at its close (docs/decisions/0015-period-close.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from services.scoring.domain.street import STREET
from services.scoring.service_layer import periods
from shared.http.auth import EvaluationStaff

router = APIRouter(prefix="/v1", tags=["scoring"])


@router.get("/periods/{period}")
async def period_figures(
    period: str, request: Request, user: EvaluationStaff, community_id: str = Query(STREET, max_length=64)
) -> dict[str, Any]:
    """The index of a period (a calendar year): `state` closed with the snapshot frozen at its close
    date, or open (still taking late data) with the index as of its last day; values counting late
    attendance carry `late_counted` and a note in zh-CN and en."""
    if community_id != STREET and user.role == "community_worker" and user.community_id != community_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a community worker reads {user.community_id}'s figures")
    return await periods.figures(request.app.state.index, request.app.state.runtime.uow, period, community_id)
