"""HTTP API of erasure (docs/decisions/0010-erasure.md): an operator erases a resident with a
reason and a second operator's approval; the request's status is readable by its id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.enrolment.service_layer import erasure
from shared.http.audit import Audited
from shared.http.auth import Operator

router = APIRouter(prefix="/v1", tags=["privacy"])

PathId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500, description="why, e.g. the resident's request of <date>")
    approved_by: str = Field(min_length=1, max_length=128, description="the second operator who approved it")


class ServiceErasure(BaseModel):
    erased_at: datetime
    erased_rows: int


class ErasureOut(BaseModel):
    request_id: uuid.UUID
    reason: str
    requested_by: str
    approved_by: str
    requested_at: datetime
    erased_rows: int
    services: dict[str, ServiceErasure] = Field(
        description="services that announced their erasure (privacy.erasures); the others do on resident.erased"
    )
    complete: bool = Field(description="all four services have erased the resident")
    pending: list[str] = Field(description="services not yet known to have erased the resident")


def _uow(request: Request):
    return request.app.state.api_uow


@router.post("/residents/{resident_id}/erasure", status_code=status.HTTP_201_CREATED, response_model=ErasureOut)
async def erase_resident(
    resident_id: PathId, body: ErasureIn, request: Request, operator: Operator, _audit: Audited
) -> ErasureOut:
    """Erase a resident (operators, with a second operator's approval): their registry entry,
    passport and credentials go; every service erases its rows on `resident.erased`."""
    done = await erasure.request_erasure(
        _uow(request), resident_id, reason=body.reason, requested_by=operator.subject, approved_by=body.approved_by,
        correlation_id=request.headers.get("X-Correlation-Id"), erased_cards=request.app.state.erased_cards,
    )  # fmt: skip
    return ErasureOut.model_validate(done)


@router.get("/erasures/{request_id}", response_model=ErasureOut)
async def erasure_status(request_id: uuid.UUID, request: Request, operator: Operator) -> ErasureOut:
    """The request with each service's completion (service, rows, when) and whether all are done."""
    return ErasureOut.model_validate(await erasure.erasure_status(_uow(request), request_id))
