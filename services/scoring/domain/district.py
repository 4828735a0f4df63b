"""The district view (docs/decisions/0022-district-view.md): each street's published index side by
side. Pure rules: which streets a district instance reads (`SCORING_DISTRICT_STREETS`), which of two
index updates is kept, and the views the district routes and page show.

The district reads only what each street publishes on its compacted `scoring.index` topic
(`IndexUpdated`: community_id, total, five aspects, computed_at), never a street's raw data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.events.topics import STREET_ID

INDEX_TOPIC = "scoring.index"  # a street's index topic without its street prefix (ADR 0021)
STREET = "street"  # the community id under which a street's whole index is published
TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # a Kafka topic name
EXAMPLE = "pinghu=scoring.index,nanwan"
# How far ahead of the district's clock an update's computed_at may be (SCORING_DISTRICT_MAX_CLOCK_SKEW_S).
MAX_CLOCK_SKEW = timedelta(minutes=5)


class DistrictSettingError(ValueError):
    """SCORING_DISTRICT_STREETS cannot be read; the message is one line naming the variable."""


def parse_streets(value: str | None) -> dict[str, str]:
    """`pinghu=scoring.index,nanwan` → {"pinghu": "scoring.index", "nanwan": "nanwan.scoring.index"}:
    each street's id and the topic it publishes its index on (a bare id: `<id>.scoring.index`, the
    name ADR 0021 gives a prefixed street's index). Empty or unset: {} (a street instance)."""
    streets: dict[str, str] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        street, sep, topic = (s.strip() for s in part.partition("="))
        if not STREET_ID.match(street):
            raise DistrictSettingError(
                f"SCORING_DISTRICT_STREETS: {street!r} is not a street id (lower-case letters, digits and '-', "
                f"3 to 32 characters starting with a letter); e.g. {EXAMPLE}"
            )
        if sep and not TOPIC.match(topic):
            raise DistrictSettingError(
                f"SCORING_DISTRICT_STREETS: {street}={topic!r} does not name a Kafka topic; e.g. {EXAMPLE}"
            )
        if street in streets:
            raise DistrictSettingError(f"SCORING_DISTRICT_STREETS: street {street!r} is listed twice")
        topic = topic if sep else f"{street}.{INDEX_TOPIC}"
        if topic in streets.values():
            raise DistrictSettingError(f"SCORING_DISTRICT_STREETS: topic {topic!r} is given to two streets")
        streets[street] = topic
    return streets


def supersedes(incoming: datetime, kept: datetime | None) -> bool:
    """Whether an update computed at `incoming` replaces the one kept (computed at `kept`): only a
    newer one does, so a redelivered or reordered older update never overwrites a newer index. An
    update computed at the same instant is the same index (a redelivery): kept as it is."""
    return kept is None or incoming > kept


def ahead_of_clock(computed_at: datetime, now: datetime, max_skew: timedelta = MAX_CLOCK_SKEW) -> timedelta | None:
    """How far an update is dated ahead of the district's clock when that is more than `max_skew`
    (None otherwise). Newer wins (`supersedes`), so an update from a street whose clock runs far ahead
    would pin its row until the street's real time caught up with it: it is refused instead."""
    ahead = computed_at - now
    return ahead if ahead > max_skew else None


@dataclass(frozen=True)
class IndexRow:
    """The latest index a street published for one of its communities (or `street`)."""

    street: str
    community_id: str
    total: float
    aspects: Mapping[str, float]
    computed_at: datetime


Names = Mapping[str, Mapping[str, Mapping[str, str]]]  # street → community id (or "street") → name_zh/name_en


def _names(names: Names, street: str, community: str) -> dict[str, str]:
    found = names.get(street, {}).get(community)
    fallback = street if community == STREET else community
    return {"name_zh": (found or {}).get("name_zh", fallback), "name_en": (found or {}).get("name_en", fallback)}


def overview(
    streets: Iterable[str], rows: Iterable[IndexRow], names: Names, aspects: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Every configured street side by side, in the configured order: its total and aspects when it
    has published its street index (None before), when, and how many communities it published.
    `aspects`: the five aspects' ids, names and maxima from the district's indicator file."""
    by_street: dict[str, list[IndexRow]] = {}
    for row in rows:
        by_street.setdefault(row.street, []).append(row)
    out = []
    for street in streets:
        own = by_street.get(street, [])
        whole = next((r for r in own if r.community_id == STREET), None)
        out.append({
            "street": street, **_names(names, street, STREET),
            "total": whole.total if whole else None,
            "aspects": dict(whole.aspects) if whole else {},
            "computed_at": whole.computed_at.isoformat() if whole else None,
            "communities": sum(1 for r in own if r.community_id != STREET),
        })  # fmt: skip
    return {"aspects": [dict(a) for a in aspects], "streets": out}


def street_detail(street: str, rows: Iterable[IndexRow], names: Names) -> dict[str, Any]:
    """One street's published index: the street's row and each community's, highest total first."""
    own = [r for r in rows if r.street == street]
    whole = next((r for r in own if r.community_id == STREET), None)
    communities = sorted((r for r in own if r.community_id != STREET), key=lambda r: (-r.total, r.community_id))
    return {
        "street": street, **_names(names, street, STREET),
        "total": whole.total if whole else None,
        "aspects": dict(whole.aspects) if whole else {},
        "computed_at": whole.computed_at.isoformat() if whole else None,
        "communities": [
            {"community_id": r.community_id, **_names(names, street, r.community_id), "total": r.total,
             "aspects": dict(r.aspects), "computed_at": r.computed_at.isoformat()}
            for r in communities
        ],
    }  # fmt: skip
