"""Use cases of evidence files: store an upload with its event, remove one (soft), read them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.scoring import metrics
from services.scoring.adapters import evidence_repository as repo
from services.scoring.domain.evidence import FileKind, may_read
from shared.db.uow import UnitOfWork
from shared.events.catalogue import EvidenceRemoved, EvidenceUploaded
from shared.events.envelope import envelop
from shared.http.errors import Invalid, NotFound

SOURCE = "learnstreet/scoring"


async def upload(
    uow_factory: Callable[[], UnitOfWork],
    *,
    target: dict[str, Any],
    filename: str,
    kind: FileKind,
    data: bytes,
    sha256: str,
    actor: str,
    actor_role: str,
    at: datetime,
) -> dict[str, Any]:
    """Stores the file and its metadata and publishes `evidence.uploaded` in one transaction.
    `target`: indicator_id, community_id (both checked by the caller), and optionally a
    rectification_task_id or assessment_id, which must be of the same community and indicator."""
    meta = {
        **target, "evidence_id": uuid.uuid4(), "filename": filename, "content_type": kind.content_type,
        "size": len(data), "sha256": sha256, "uploaded_by": actor, "uploader_role": actor_role,
        "uploaded_at": at,
    }  # fmt: skip
    async with uow_factory() as uow:
        await _check_links(uow, meta)
        row = await repo.insert(uow.conn, meta, data)
        uow.publish(envelop(uploaded_event(row), source=SOURCE))
        uow.after_commit(lambda: metrics.EVIDENCE_UPLOADED.labels(kind.kind).inc())
        await uow.commit()
    return row


async def _check_links(uow: UnitOfWork, meta: dict[str, Any]) -> None:
    where = (meta["community_id"], meta["indicator_id"])
    if meta["rectification_task_id"] is not None:
        task = await repo.task_of(uow.conn, meta["rectification_task_id"])
        if task is None:
            raise Invalid(f"no rectification task {meta['rectification_task_id']}", field="rectification_task_id")
        if (task["community_id"], task["indicator_id"]) != where:
            raise Invalid(f"the task is of {task['community_id']} / {task['indicator_id']}, not of "
                          f"{where[0]} / {where[1]}", field="rectification_task_id")  # fmt: skip
    if meta["assessment_id"] is not None:
        a = await repo.assessment_of(uow.conn, meta["assessment_id"])
        if a is None:
            raise Invalid(f"no assessment {meta['assessment_id']!r}", field="assessment_id")
        if (a["community_id"], a["indicator_id"]) != where:
            raise Invalid(f"the assessment is of {a['community_id']} / {a['indicator_id']}, not of "
                          f"{where[0]} / {where[1]}", field="assessment_id")  # fmt: skip


def uploaded_event(r: dict[str, Any]) -> EvidenceUploaded:
    return EvidenceUploaded(
        evidence_id=str(r["evidence_id"]), indicator_id=r["indicator_id"], community_id=r["community_id"],
        rectification_task_id=str(r["rectification_task_id"]) if r["rectification_task_id"] else None,
        assessment_id=r["assessment_id"], filename=r["filename"], content_type=r["content_type"], size=r["size"],
        sha256=r["sha256"], actor=r["uploaded_by"], actor_role=r["uploader_role"], at=r["uploaded_at"],
    )  # fmt: skip


async def remove(
    uow_factory: Callable[[], UnitOfWork], evidence_id: uuid.UUID, *, reason: str, actor: str, actor_role: str,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Marks the file removed and publishes `evidence.removed`; the record and its bytes stay (an
    assessment may have relied on it). Removing it again changes nothing and publishes nothing."""
    async with uow_factory() as uow:
        row = await repo.get(uow.conn, evidence_id, for_update=True)
        if row is None:
            raise NotFound(f"no evidence {evidence_id}", field="evidence_id")
        if row["removed_at"] is not None:
            return row
        row = await repo.mark_removed(uow.conn, evidence_id, actor, reason, at)
        uow.publish(envelop(EvidenceRemoved(
            evidence_id=str(evidence_id), indicator_id=row["indicator_id"], community_id=row["community_id"],
            sha256=row["sha256"], reason=reason, actor=actor, actor_role=actor_role, at=at,
        ), source=SOURCE))  # fmt: skip
        await uow.commit()
    return row


async def metadata(uow_factory: Callable[[], UnitOfWork], evidence_id: uuid.UUID) -> dict[str, Any]:
    async with uow_factory() as uow:
        row = await repo.get(uow.conn, evidence_id)
    if row is None:
        raise NotFound(f"no evidence {evidence_id}", field="evidence_id")
    return row


async def content(uow_factory: Callable[[], UnitOfWork], evidence_id: uuid.UUID) -> bytes:
    async with uow_factory() as uow:
        data = await repo.content(uow.conn, evidence_id)
    if data is None:
        raise NotFound(f"no evidence {evidence_id}", field="evidence_id")
    return data


async def listing(uow_factory: Callable[[], UnitOfWork], **filters: Any) -> list[dict[str, Any]]:
    async with uow_factory() as uow:
        return await repo.list_files(uow.conn, **filters)


async def links(uow_factory: Callable[[], UnitOfWork], community_id: str) -> dict[str, list[dict[str, Any]]]:
    async with uow_factory() as uow:
        return await repo.links(uow.conn, community_id)


def url_of(evidence_id: Any) -> str:
    return f"/v1/evidence/{evidence_id}/content"


async def with_links(
    uow_factory: Callable[[], UnitOfWork],
    community_id: str,
    aspects: list[dict[str, Any]],
    role: str,
    own_community: str | None,
) -> list[dict[str, Any]]:
    """The index's aspects with `evidence: [{id, filename, url}]` on every assessed leaf for those who
    may read the community's evidence; others (residents, another community's worker) get only
    `evidence_count` (a file's name may name a person). Copies: the cached view is shared."""
    by_indicator = await links(uow_factory, community_id)
    readable = may_read(role, own_community, community_id)
    out = []
    for aspect in aspects:
        leaves = []
        for leaf in aspect["indicators"]:
            if leaf["kind"] == "assessed":
                files = by_indicator.get(leaf["id"], [])
                leaf = {**leaf, "evidence_count": len(files)}
                if readable:
                    leaf["evidence"] = [{"id": str(f["evidence_id"]), "filename": f["filename"],
                                         "url": url_of(f["evidence_id"])} for f in files]  # fmt: skip
            leaves.append(leaf)
        out.append({**aspect, "indicators": leaves})
    return out
