"""The learning passport's use cases: the projector that folds attendance and honours into the
read model (exactly once by stored offsets), and reading a resident's passport."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.enrolment.adapters import passport as repository
from services.enrolment.adapters import repository as enrolments
from services.enrolment.domain import passport as domain
from services.enrolment.domain.passport import CreditsRule
from services.enrolment.service_layer.consents import require_learning_record
from shared import metrics
from shared.bus.decoding import DeadLetter, Incoming
from shared.db.erasure import ErasedCards
from shared.db.uow import UnitOfWork
from shared.http.errors import Invalid, NotFound
from shared.reference import Reference

UowFactory = Callable[[], UnitOfWork]


def check_event(event: Incoming) -> None:
    """What the passport can never hold is a dead letter (the rebuild skips it the same way)."""
    data = event.data
    if event.type_name in (domain.RECORDED, domain.ADJUSTED) and data.minutes < 0:
        raise DeadLetter("invalid_minutes", f"attendance {data.attendance_id} has negative minutes {data.minutes}")


def event_time(event: Incoming):
    """The event's own time (the envelope's), so that a replay stores the same instant."""
    return event.time


class PassportProjector:
    """Applies a batch of attendance and honour events set-based (`domain.BatchChanges`), then the
    batch's erasures. `erased` collects every erased resident the projector has seen: the rebuild
    erases them all again once its replay is done, because the replay reads the topics in no
    order across them, so an erasure may come before that resident's old attendance."""

    event_types = domain.EVENT_TYPES
    lock: asyncio.Lock | None = None  # the rebuild's lock is PostgreSQL's, taken with the offsets

    def __init__(self, erased_cards: ErasedCards | None = None, *, erase_checkpoint: bool = False) -> None:
        self.erased: set[str] = set()
        # the live projector's: attendance of a card erased before it arrived is not applied
        self.erased_cards = erased_cards
        # the live projector's: an erasure reaches the checkpoint's copy too (not the rebuild's replay)
        self.erase_checkpoint = erase_checkpoint

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None:
        for event in events:
            check_event(event)
        events = await self._without_erased_cards(uow, events)
        erased = {e.data.resident_id for e in events if e.type_name == domain.ERASED}
        changes = domain.BatchChanges.of((e.type_name, e.data, event_time(e)) for e in events)
        await repository.apply_changes(uow.conn, changes)
        if erased:
            await repository.erase_passports(uow.conn, erased)
            if self.erase_checkpoint:
                await repository.erase_checkpoint(uow.conn, erased)
            self.erased |= erased

    async def _without_erased_cards(self, uow: UnitOfWork, events: list[Incoming]) -> list[Incoming]:
        """Attendance (in flight or redelivered) of a card whose erasure enrolment already made
        would put the resident's passport back under the card number: it is dropped (ADR 10,
        amendment). An erasure in this batch is applied after the batch's changes anyway."""
        attendance = [e for e in events if e.type_name in (domain.RECORDED, domain.ADJUSTED)]
        if self.erased_cards is None or not attendance:
            return events
        erased = await self.erased_cards.among(uow.conn, {e.data.resident_id for e in attendance})
        if not erased:
            return events
        kept = [e for e in events if e.type_name not in (domain.RECORDED, domain.ADJUSTED)
                or e.data.resident_id not in erased]  # fmt: skip
        metrics.EVENTS_APPLIED.labels(PASSPORT_LABEL, "erased_card").inc(len(events) - len(kept))
        return kept


PASSPORT_LABEL = "enrolment.passport"


class PassportOffsets:
    """Offsets stored with the passport rows (`passport_offsets`); see shared/bus/dispatch.py.
    `shared_lock`: live batches hold the passport lock shared so that the rebuild, taking it
    exclusively, swaps its tables in between two batches; the rebuild's replay goes without."""

    def __init__(self, *, shared_lock: bool = True) -> None:
        self.shared_lock = shared_lock

    async def applied(self, uow: UnitOfWork, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if self.shared_lock:
            await repository.lock_passports_shared(uow.conn)
        return await repository.lock_offsets(uow.conn, partitions)

    async def store(self, uow: UnitOfWork, offsets: dict[tuple[str, int], int]) -> None:
        await repository.store_offsets(uow.conn, offsets)


# --- reading a passport ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PassportDeps:
    rule: CreditsRule
    reference: Reference
    certificate_key: bytes = b""


def certificate_key(street_secret: str | None, jwt_secret: str) -> bytes:
    """The street's own secret when it set one, else one derived from the token secret (a separate
    key: a certificate code never reveals anything about the token secret)."""
    if street_secret:
        return street_secret.encode()
    return hmac.new(jwt_secret.encode(), b"learnstreet certificate key v1", hashlib.sha256).digest()


def _names(zh: str | None, en: str | None) -> dict[str, str] | None:
    if not zh and not en:
        return None
    return {"zh-CN": zh or en, "en": en or zh}


def _credits(value: Decimal) -> float:
    return float(value)


async def passport(uow_factory: UowFactory, deps: PassportDeps, resident_id: str) -> dict[str, Any]:
    """The resident's passport, served only with their `learning_record` consent (403 otherwise);
    the projector keeps it up to date either way, so agreeing later shows the whole record."""
    async with uow_factory() as uow:
        if not await repository.resident_exists(uow.conn, resident_id):
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        await require_learning_record(uow.conn, resident_id)
        attendance = await repository.attendance_of(uow.conn, resident_id)
        honours = await repository.honours_of(uow.conn, resident_id)
        enrolled = await enrolments.enrolments_of_resident(uow.conn, resident_id, 500)
        courses = await repository.course_names(uow.conn, {r["course_id"] for r in enrolled})
    return build(resident_id, attendance, honours, [dict(r) for r in enrolled], courses, deps)


def build(
    resident_id: str,
    attendance: list[tuple[domain.AttendanceEntry, dict]],
    honours: list[domain.HonourEntry],
    enrolled: list[dict],
    courses: dict[str, dict],
    deps: PassportDeps,
) -> dict[str, Any]:
    rule, reference = deps.rule, deps.reference

    def theme_names(theme: str) -> dict[str, str] | None:
        known = reference.themes.get(theme)
        return _names(known.name_zh, known.name_en) if known else None

    themed = [(entry, entry.theme or names["course_theme"] or None) for entry, names in attendance]
    years = domain.year_summaries(themed, rule)
    return {
        "resident_id": resident_id,
        "years": [
            {
                "year": y.year,
                "attendances": y.attendances,
                "minutes": y.minutes,
                "hours": float(y.hours),
                "credits": _credits(y.credits),
                "capped": y.capped,
                "themes": [
                    {
                        "theme": t.theme,
                        "name": theme_names(t.theme),
                        "minutes": t.minutes,
                        "credited_minutes": t.credited_minutes,
                        "credits": _credits(t.credits),
                        "cap": _credits(rule.cap(t.theme)),
                        "capped": t.capped,
                    }
                    for t in y.themes
                ],
            }
            for y in years
        ],
        "attendance": [
            {
                "attendance_id": entry.attendance_id,
                "session_id": entry.session_id,
                "course_id": entry.course_id,
                "course": _names(names["title_zh"], names["title_en"]),
                "theme": theme,
                "venue_id": entry.venue_id,
                "venue": _names(names["name_zh"], names["name_en"]),
                "community_id": entry.community_id,
                "date": entry.held_at.astimezone(rule.zone).date().isoformat(),
                "held_at": entry.held_at.isoformat(),
                "minutes": entry.minutes,
            }
            for (entry, names), (_, theme) in zip(attendance, themed, strict=True)
        ],
        "honours": [
            {
                "honour_id": h.honour_id,
                "kind": h.kind,
                "name": {lang: reference.honour_name(h.kind, lang) for lang in ("zh-CN", "en")},
                "period": h.period,
                "recipient_kind": h.recipient_kind,
                "recipient_id": h.recipient_id,
                "state": h.state,
                "awarded_at": h.awarded_at.isoformat() if h.awarded_at else None,
                "revoked_at": h.revoked_at.isoformat() if h.revoked_at else None,
                "revoke_reason": h.revoke_reason or None,
                # the Open Badges credential of an honour still standing (ADR 0012)
                "credential": None if h.revoked else f"/v1/residents/{resident_id}/credentials/{h.honour_id}",
            }
            for h in honours
        ],
        "enrolments": [
            {
                "enrolment_id": e["enrolment_id"],
                "session_id": e["session_id"],
                "course_id": e["course_id"],
                "course": courses.get(e["course_id"]),
                "status": e["status"],
                "position": e["position"],
                "starts_at": e["starts_at"].isoformat() if e["starts_at"] else None,
            }
            for e in enrolled
            if e["status"] != "cancelled"
        ],
        "credits_rule": rule.describe(),
    }


# --- the certificate of learning (学习证明) -----------------------------------------------------------


async def certificate(uow_factory: UowFactory, deps: PassportDeps, resident_id: str, year: int) -> dict[str, Any]:
    """The passport's figures for one year, the courses of that year, the honours awarded for it
    (their period starts with the year) and still standing, and the verification code."""
    data = await passport(uow_factory, deps, resident_id)
    summary = next((y for y in data["years"] if y["year"] == year), None)
    if summary is None:
        raise NotFound(f"no learning recorded for {resident_id} in {year} / 该年度无学习记录", field="year")
    courses = [a for a in data["attendance"] if a["date"].startswith(f"{year}-")]
    honours = [h for h in data["honours"] if h["state"] == "awarded" and h["period"].startswith(str(year))]
    code = domain.certificate_code(deps.certificate_key, resident_id, year, summary["minutes"])
    street = deps.reference.street
    return {
        "resident_id": resident_id,
        "year": year,
        "summary": summary,
        "attendance": courses,
        "honours": honours,
        "code": code,
        "street": {"zh-CN": street.name_zh, "en": street.name_en},
        "rule_version": deps.rule.version,
    }


def verify_certificate(deps: PassportDeps, code: str) -> dict[str, Any]:
    """Whether a certificate's code is the street's: the code carries resident, year and minutes,
    and its HMAC holds only if none of them was changed. Reads nothing about the resident."""
    claim = domain.parse_certificate_code(code)
    if claim is None:
        raise Invalid(
            "not a certificate code (<year>-<minutes>-<20 hex>-<resident id>) / 验证码格式不正确", field="code"
        )
    valid = domain.genuine(deps.certificate_key, claim)
    return {
        "valid": valid,
        "resident_id": claim.resident_id,
        "year": claim.year,
        "minutes": claim.minutes,
        "hours": round(claim.minutes / 60, 2),
        "reason": None if valid else "the code does not match what it certifies / 验证码与证明内容不符",
    }
