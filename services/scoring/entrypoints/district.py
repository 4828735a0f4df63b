"""The district view (docs/decisions/0022-district-view.md): a scoring instance started with
`SCORING_DISTRICT_STREETS` consumes each street's `scoring.index` (and nothing else) into its
`district_index` table, and serves each street's index side by side, a street's communities, and
the district page (`/district`, the dashboard's look and sign-in).

The routes are on every scoring instance (a street instance serves its database's district table,
empty unless a district instance shares it); operators and assessors read them: the district's
figures are the streets' published totals, which no community worker's scope maps to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse

from services.scoring.adapters import district as district_store
from services.scoring.domain import district
from services.scoring.entrypoints.dashboard import STATIC, _headers
from services.scoring.service_layer.district import DistrictDeps, on_index_updated
from shared.events import catalogue as ev
from shared.events.topics import SCORING, STREET_PREFIX
from shared.events.topics import group_id as group_id_of
from shared.http.auth import Assessor
from shared.http.errors import NotFound
from shared.reference import load_reference, resolve
from shared.runtime import Runtime

HANDLERS = {ev.IndexUpdated: on_index_updated}
GROUP = f"{STREET_PREFIX}learnstreet.scoring.district"  # under scoring's prefixed group ACL
PAGE = STATIC / "district.html"


@dataclass(frozen=True)
class District:
    """What the district routes serve from: the configured streets (in order) and their names."""

    streets: dict[str, str] = field(default_factory=dict)  # street id → its index topic
    names: district.Names = field(default_factory=dict)
    aspects: tuple[dict[str, Any], ...] = ()  # id, name_zh, name_en, max: from the indicator file
    max: float = 100.0


def from_indicators(streets: dict[str, str], reference_dir: str, indicators: Any) -> District:
    aspects = tuple({"id": a.id, "name_zh": a.name_zh, "name_en": a.name_en, "max": a.max} for a in indicators.aspects)
    return District(streets, names_for(streets, reference_dir), aspects, indicators.total)


def names_for(streets: dict[str, str], reference_dir: str) -> district.Names:
    """Names of the streets (and their communities) whose reference data the district has: the
    instance's own reference folder (LS_REFERENCE_DIR) and any `<id>/` folder beside it; ids otherwise."""
    own = resolve(reference_dir)
    folders = [own, *(own.parent / s for s in streets)]
    names: dict[str, dict[str, dict[str, str]]] = {}
    for folder in folders:
        if not (Path(folder) / "communities.yaml").is_file():
            continue
        ref = load_reference(folder)
        if ref.street.id not in streets or ref.street.id in names:
            continue
        entry = {c.id: {"name_zh": c.name_zh, "name_en": c.name_en} for c in ref.communities.values()}
        entry[district.STREET] = {"name_zh": ref.street.name_zh, "name_en": ref.street.name_en}
        names[ref.street.id] = entry
    return names


def group_id(configured: str = "") -> str:
    """The district's consumer group: `configured` (SCORING_DISTRICT_GROUP) or GROUP;
    DistrictSettingError (one line) for a group scoring's ACL does not cover or the street's own."""
    group = configured.strip() or GROUP
    scoring_groups = group_id_of(SCORING)
    if group == scoring_groups:
        raise district.DistrictSettingError(
            f"SCORING_DISTRICT_GROUP={group!r} is the street's own scoring group: the district needs its own"
        )
    if not group.startswith(f"{scoring_groups}."):
        raise district.DistrictSettingError(
            f"SCORING_DISTRICT_GROUP={group!r}: use a group under {scoring_groups}. (scoring's consumer-group ACL), "
            f"e.g. {GROUP}-2"
        )
    return group


def register(
    runtime: Runtime, streets: dict[str, str], max_clock_skew: timedelta = district.MAX_CLOCK_SKEW, group: str = GROUP
) -> None:
    """The district's only consumer: every configured street's index topic, in its own group; an
    update dated more than `max_clock_skew` ahead of the district's clock is dead-lettered."""
    street_of_topic = {topic: street for street, topic in streets.items()}
    runtime.deps = DistrictDeps(street_of_topic=street_of_topic, max_clock_skew=max_clock_skew)
    runtime.consume(
        *streets.values(),
        handlers=HANDLERS,
        group_id=group,
        description="Each street's published learning index (IndexUpdated), for the district view.",
    )


router = APIRouter(tags=["district"])


def _district(request: Request) -> District:
    return getattr(request.app.state, "district", None) or District()


async def _rows(request: Request, street: str | None = None) -> list[district.IndexRow]:
    async with request.app.state.runtime.uow() as uow:
        return await district_store.rows(uow.conn, street)


@router.get("/v1/district/index")
async def district_index(request: Request, user: Assessor) -> dict[str, Any]:
    """Every street's published index side by side: total, five aspects, when computed, how many
    communities it published (a street that has published nothing yet: total null)."""
    d = _district(request)
    rows = await _rows(request)
    order = list(d.streets) or sorted({r.street for r in rows})
    return {"max": d.max, **district.overview(order, rows, d.names, d.aspects)}


@router.get("/v1/district/streets/{street}")
async def district_street(
    request: Request, user: Assessor, street: str = PathParam(..., max_length=64)
) -> dict[str, Any]:
    """A street's published index, community by community (the district's drill-down)."""
    d = _district(request)
    rows = await _rows(request, street)
    if street not in d.streets and not rows:
        known = ", ".join(d.streets) or "none"
        raise NotFound(f"unknown street {street!r} / 未知街道; the district's streets: {known}", field="street")
    return {"max": d.max, "aspects_named": list(d.aspects), **district.street_detail(street, rows, d.names)}


@router.get("/district", include_in_schema=False)
async def district_page(request: Request) -> FileResponse:
    """The district page (no data in it; it signs in as the dashboard does and reads /v1/district)."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=_headers(request))


@router.get("/district/", include_in_schema=False)
async def district_slash() -> RedirectResponse:
    return RedirectResponse("/district", status_code=308)
