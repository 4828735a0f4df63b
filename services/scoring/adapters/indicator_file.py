"""Reads and checks an indicator file (YAML): an unusable file stops scoring at start with the reason."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from services.scoring.domain.honours import HonourRules
from services.scoring.domain.indicators import LEVELS, METRICS, Aspect, Indicator, IndicatorSet
from services.scoring.domain.periods import parse_periods
from services.scoring.domain.selection import DEFAULT_QUOTA_KEY, SelectionRules


class IndicatorFileError(ValueError):
    """The indicator file cannot be used; the message says where and why."""


def _number(raw: dict, key: str, where: str, *, required: bool = True) -> float | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise IndicatorFileError(f"{where}: '{key}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise IndicatorFileError(f"{where}: '{key}' must be a non-negative number, got {value!r}")
    return float(value)


def _per_level(raw: dict, key: str, where: str) -> tuple[float, float]:
    """(community, street) values of `key`: one number for both levels, or {community: …, street: …}."""
    value = raw.get(key)
    if isinstance(value, dict):
        unknown = set(value) - set(LEVELS)
        if unknown or set(value) != set(LEVELS):
            raise IndicatorFileError(f"{where}: '{key}' per level needs exactly {', '.join(LEVELS)}, got {value!r}")
        return _number(value, "community", f"{where} {key}"), _number(value, "street", f"{where} {key}")
    number = _number(raw, key, where)
    return number, number


def parse_indicator_set(text: str, source: str = "<indicators>") -> IndicatorSet:
    """Parse and check an indicator file; raises IndicatorFileError with a clear reason."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise IndicatorFileError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("aspects"), list) or not raw["aspects"]:
        raise IndicatorFileError(f"{source}: needs 'version', 'total' and a non-empty list 'aspects'")
    version = str(raw.get("version") or "")
    if not version:
        raise IndicatorFileError(f"{source}: 'version' is missing")
    total = _number(raw, "total", source)
    seen: set[str] = set()
    aspects = []
    for a in raw["aspects"]:
        if not isinstance(a, dict) or not a.get("id") or not isinstance(a.get("indicators"), list):
            raise IndicatorFileError(f"{source}: every aspect needs an 'id' and a list 'indicators'")
        aid = str(a["id"])
        if aid in seen:
            raise IndicatorFileError(f"{source}: duplicate id {aid!r}")
        seen.add(aid)
        leaves = []
        for i in a["indicators"]:
            where = f"{source}: indicator {i.get('id') if isinstance(i, dict) else i!r}"
            if not isinstance(i, dict) or not i.get("id"):
                raise IndicatorFileError(f"{where}: needs an 'id'")
            iid = str(i["id"])
            if iid in seen:
                raise IndicatorFileError(f"{source}: duplicate id {iid!r}")
            seen.add(iid)
            kind = i.get("kind")
            if kind not in ("computed", "assessed"):
                raise IndicatorFileError(f"{where}: 'kind' must be computed or assessed, got {kind!r}")
            maximum = _number(i, "max", where)
            pass_line, street_pass = _per_level(i, "pass", where)
            metric, target, street_target, denominator = None, None, None, None
            if kind == "computed":
                metric = i.get("metric")
                if metric not in METRICS:
                    known = ", ".join(sorted(METRICS))
                    raise IndicatorFileError(f"{where}: unknown metric {metric!r}; known metrics: {known}")
                target, street_target = _per_level(i, "target", where)
                if not target or not street_target:
                    raise IndicatorFileError(f"{where}: 'target' must be greater than 0")
                denominator = i.get("denominator", METRICS[metric].denominator)
                if denominator not in METRICS[metric].denominators:
                    allowed = ", ".join(METRICS[metric].denominators)
                    raise IndicatorFileError(
                        f"{where}: denominator {denominator!r} is not one of {metric}'s ({allowed})"
                    )
            elif max(pass_line, street_pass) > maximum:
                raise IndicatorFileError(f"{where}: pass line {pass_line} exceeds max {maximum}")
            leaves.append(
                Indicator(
                    id=iid, aspect=aid, kind=kind, max=maximum, pass_line=pass_line,
                    name_zh=str(i.get("name_zh", iid)), name_en=str(i.get("name_en", iid)),
                    metric=metric, target=target, denominator=denominator, street_target=street_target,
                    street_pass_line=street_pass,
                )
            )  # fmt: skip
        if not leaves:
            raise IndicatorFileError(f"{source}: aspect {aid!r} has no indicators")
        aspects.append(Aspect(aid, str(a.get("name_zh", aid)), str(a.get("name_en", aid)), tuple(leaves)))
    summed = sum(a.max for a in aspects)
    if not math.isclose(summed, total, abs_tol=1e-9):
        detail = ", ".join(f"{a.id}={a.max:g}" for a in aspects)
        raise IndicatorFileError(f"{source}: indicator maxima add up to {summed:g}, not total {total:g} ({detail})")
    h, default = raw.get("honours") or {}, HonourRules()
    star, family = h.get("learning_star") or {}, h.get("learning_family") or {}
    enterprise, volunteer = h.get("book_fragrant_enterprise") or {}, h.get("excellent_volunteer") or {}
    rules = HonourRules(
        learning_star_min_hours=star.get("min_hours", default.learning_star_min_hours),
        family_min_members=family.get("min_members", default.family_min_members),
        family_min_hours=family.get("min_hours", default.family_min_hours),
        enterprise_min_share=enterprise.get("min_share", default.enterprise_min_share),
        enterprise_min_registered=enterprise.get("min_registered", default.enterprise_min_registered),
        enterprise_min_hours_each=enterprise.get("min_hours_each", default.enterprise_min_hours_each),
        volunteer_min_teaching_hours=volunteer.get("min_teaching_hours", default.volunteer_min_teaching_hours),
        volunteer_min_service_hours=volunteer.get("min_service_hours", default.volunteer_min_service_hours),
        volunteer_either=_flag(volunteer, "either", default.volunteer_either, f"{source}: excellent_volunteer"),
    )
    return IndicatorSet(
        version=version, total=total, aspects=tuple(aspects), honours=rules,
        selection=parse_selection(raw.get("selection"), source), periods=_periods(raw, source),
    )  # fmt: skip


def _periods(raw: dict, source: str):
    try:
        return parse_periods(raw.get("periods"))
    except ValueError as e:
        raise IndicatorFileError(f"{source}: {e}") from None


def _flag(raw: dict, key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise IndicatorFileError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _places(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise IndicatorFileError(f"{where}: a quota must be a whole number of places ≥ 0, got {value!r}")
    return value


def parse_selection(raw: object, source: str) -> SelectionRules:
    """`selection: {mode, notice_days, quotas}`; without it, the defaults (reviewed, 7 days, no places)."""
    if raw is None:
        return SelectionRules()
    if not isinstance(raw, dict):
        raise IndicatorFileError(f"{source}: 'selection' must be a mapping (mode, notice_days, quotas)")
    default = SelectionRules()
    mode = raw.get("mode", default.mode)
    if mode not in ("reviewed", "automatic"):
        raise IndicatorFileError(f"{source}: selection mode must be reviewed or automatic, got {mode!r}")
    notice_days = _number(raw, "notice_days", f"{source}: selection", required=False)
    quotas: dict[str, dict[str, int]] = {}
    for kind, value in (raw.get("quotas") or {}).items():
        where = f"{source}: selection quota {kind}"
        if isinstance(value, dict):
            quotas[str(kind)] = {str(c): _places(n, f"{where} {c}") for c, n in value.items()}
        else:
            quotas[str(kind)] = {DEFAULT_QUOTA_KEY: _places(value, where)}
    return SelectionRules(
        mode=mode, notice_days=default.notice_days if notice_days is None else notice_days, quotas=quotas
    )


def load_indicator_file(path: str | Path) -> IndicatorSet:
    """The indicator file, checked; an unusable file stops the service at start with the reason."""
    return parse_indicator_set(Path(path).read_text(encoding="utf-8"), source=str(path))
