"""Evidence files (佐证材料) over HTTP: upload (streamed, limited, typed by its bytes), list, metadata,
download, removal. Its own router (included by bootstrap.py) so the index routes stay readable."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from services.scoring import metrics
from services.scoring.adapters.evidence_form import Body, read_form, refuse_declared_length
from services.scoring.domain import evidence as rules
from services.scoring.domain.street import STREET
from services.scoring.entrypoints.http import ID, _scoped
from services.scoring.service_layer import evidence as use_cases
from services.scoring.service_layer.index import IndexEngine
from shared.events.envelope import utcnow
from shared.http.auth import EvaluationStaff, Operator, Principal
from shared.http.errors import Invalid

UPLOAD_PATH = "/v1/evidence"
router = APIRouter(prefix="/v1", tags=["evidence"])
# The upload route reads its body as a stream against its own limit (shared/runtime.py BodyLimit).
router.streamed_bodies = (UPLOAD_PATH,)  # type: ignore[attr-defined]

TEXT_FIELDS = frozenset({"indicator_id", "community_id", "note", "rectification_task_id", "assessment_id"})
MAX_NOTE_CHARS = 2000
_ID = re.compile(ID)


def _engine(request: Request) -> IndexEngine:
    return request.app.state.index


def _uow(request: Request):
    return request.app.state.runtime.uow


async def _refusal(e: rules.Refused, body: Body) -> JSONResponse:
    """The refusal, once what is left of the body is read (up to DRAIN_BYTES); past that the
    connection is closed, else the server would read and discard a whole gigabyte to keep it."""
    metrics.EVIDENCE_REFUSED.labels(e.code).inc()
    ended = await body.drain()
    detail = {"detail": [{"loc": ["body", e.field], "msg": e.reason, "type": e.code}]}
    return JSONResponse(detail, e.status, headers=None if ended else {"Connection": "close"})


def _target(fields: dict[str, str], staff: Principal, engine: IndexEngine) -> dict[str, Any]:
    """The indicator and community (and optional task or assessment) the upload is evidence for."""
    f = {k: v.strip() for k, v in fields.items()}
    indicator_id = f.get("indicator_id", "")
    if not indicator_id:
        raise Invalid("required: the indicator the file is evidence for", field="indicator_id")
    if not _ID.match(indicator_id) or indicator_id not in engine.indicators.indicators:
        raise Invalid(f"unknown indicator {indicator_id[:100]!r} in {engine.indicators.version}", field="indicator_id")
    given = f.get("community_id") or None
    # A community workstation's evidence is its community's; the street's office files the street's.
    community_id = _scoped(staff, given) or STREET
    if community_id not in engine.populations:
        raise Invalid(f"unknown community {community_id[:64]!r}", field="community_id")
    note = f.get("note", "")
    if len(note) > MAX_NOTE_CHARS:
        raise Invalid(f"longer than {MAX_NOTE_CHARS} characters", field="note")
    task = f.get("rectification_task_id") or None
    if task is not None:
        try:
            task = uuid.UUID(task)
        except ValueError:
            raise Invalid("not a task id (a UUID)", field="rectification_task_id") from None
    assessment_id = f.get("assessment_id") or None
    if assessment_id is not None and (len(assessment_id) > 100 or not _ID.match(assessment_id)):
        raise Invalid("not an assessment id", field="assessment_id")
    return {"indicator_id": indicator_id, "community_id": community_id, "note": note,
            "rectification_task_id": task, "assessment_id": assessment_id}  # fmt: skip


def _out(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k != "evidence_id"}
    out.update(
        id=str(r["evidence_id"]),
        rectification_task_id=str(r["rectification_task_id"]) if r["rectification_task_id"] else None,
        uploaded_at=r["uploaded_at"].isoformat(),
        removed_at=r["removed_at"].isoformat() if r["removed_at"] else None,
        url=use_cases.url_of(r["evidence_id"]),
    )
    return out


def _readable(staff: Principal, r: dict[str, Any]) -> None:
    if not rules.may_read(staff.role, staff.community_id, r["community_id"]):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you act for community {staff.community_id} only")


@router.post(
    "/evidence",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "indicator_id"],
        "properties": {"file": {"type": "string", "format": "binary"}, "indicator_id": {"type": "string"},
                       "community_id": {"type": "string", "default": STREET}, "note": {"type": "string"},
                       "rectification_task_id": {"type": "string", "format": "uuid"},
                       "assessment_id": {"type": "string"}}}}}}},
)  # fmt: skip
async def upload_evidence(request: Request, staff: EvaluationStaff) -> Any:
    """A file (PDF, PNG, JPEG, docx/xlsx/pptx, odt/ods/odp) as evidence for an indicator of a community
    (default: the street; a community worker: its own). The kind is read from the bytes (415 for any
    other, 422 when the name's extension says another kind); 413 past the size limit, refused while
    streaming. Stored with its SHA-256; an `evidence.uploaded` event carries the metadata."""
    engine = _engine(request)
    max_bytes = request.app.state.runtime.settings.evidence_max_bytes
    body = Body(request.receive, request.headers.get("content-length"))
    try:
        refuse_declared_length(request.headers.get("content-length"), max_bytes)
        form = await read_form(
            body.chunks(), request.headers.get("content-type"), max_file_bytes=max_bytes, text_fields=TEXT_FIELDS
        )
    except rules.Refused as e:
        return await _refusal(e, body)
    target = _target(form.fields, staff, engine)
    data = form.file.content()  # type: ignore[union-attr]
    try:
        filename, kind = rules.identify(form.filename, data)
    except rules.Refused as e:
        return await _refusal(e, body)
    row = await use_cases.upload(
        _uow(request), target=target, filename=filename, kind=kind, data=data, sha256=form.file.sha256,  # type: ignore[union-attr]
        actor=staff.subject, actor_role=staff.role, at=utcnow(),
    )  # fmt: skip
    return _out(row)


@router.get("/evidence")
async def list_evidence(
    request: Request,
    staff: EvaluationStaff,
    indicator_id: str | None = Query(None, max_length=100),
    community_id: str | None = Query(None, max_length=64),
    include_removed: bool = False,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Evidence files, newest first, by indicator and community (a community worker: its own)."""
    rows = await use_cases.listing(
        _uow(request), community_id=_scoped(staff, community_id), indicator_id=indicator_id,
        include_removed=include_removed, limit=limit,
    )  # fmt: skip
    return {"items": [_out(r) for r in rows]}


@router.get("/evidence/{evidence_id}")
async def evidence_metadata(evidence_id: uuid.UUID, request: Request, staff: EvaluationStaff) -> dict[str, Any]:
    r = await use_cases.metadata(_uow(request), evidence_id)
    _readable(staff, r)
    return _out(r)


@router.get("/evidence/{evidence_id}/content", response_class=Response)
async def evidence_content(evidence_id: uuid.UUID, request: Request, staff: EvaluationStaff) -> Response:
    """The file as uploaded, as an attachment with the type its bytes showed (never rendered inline:
    `nosniff` and a sandboxing CSP); ETag is its SHA-256. 410 once removed."""
    r = await use_cases.metadata(_uow(request), evidence_id)
    _readable(staff, r)
    if r["removed_at"] is not None:
        raise HTTPException(status.HTTP_410_GONE, f"removed at {r['removed_at'].isoformat()}: {r['removal_reason']}")
    etag = f'"{r["sha256"]}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": rules.content_disposition(r["filename"]),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-cache",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    data = await use_cases.content(_uow(request), evidence_id)
    return Response(content=data, media_type=r["content_type"], headers=headers)


@router.delete("/evidence/{evidence_id}")
async def remove_evidence(
    evidence_id: uuid.UUID,
    request: Request,
    operator: Operator,
    reason: str = Query("", max_length=1000),
) -> dict[str, Any]:
    """Removes an evidence file (operators only): it leaves lists and the index, downloads answer 410;
    the record stays, and an `evidence.removed` event says who removed it and why."""
    r = await use_cases.remove(
        _uow(request), evidence_id, reason=reason, actor=operator.subject, actor_role=operator.role, at=utcnow()
    )
    return _out(r)
