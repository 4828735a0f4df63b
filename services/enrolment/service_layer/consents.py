"""Consent per purpose of the street's privacy notice: record a decision, read a resident's state.

A decision and the event telling the other services (enrolment.residents) commit together; the
`notifications` purpose is the resident's `consent` flag that notify holds, so a decision on it
changes the flag (and its contact event) in the same transaction. Decisions are taken under the
resident's row lock, so two tabs deciding at once are recorded one after the other: the state, the
last row of the history, the last event and the flag agree. A decision that changes nothing
records nothing; agreements beyond the hourly limit per purpose are refused, withdrawals never
(ADR 0019, amendment "bursts and two tabs")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.enrolment.adapters import consents as store
from services.enrolment.adapters import repository
from services.enrolment.domain import consent, model
from services.enrolment.domain.consent import Notice
from shared.db.uow import UnitOfWork, UnitOfWorkFactory
from shared.events.catalogue import ResidentConsentsChanged, ResidentContactChanged
from shared.events.envelope import envelop
from shared.http.errors import Conflict, DomainError, Invalid, NotFound, TooManyRequests

SOURCE = "learnstreet/enrolment"


class NoConsent(DomainError):
    """Processing for a purpose the resident has not agreed to (403 naming `consent`)."""

    status_code = 403


async def require_learning_record(conn: asyncpg.Connection, resident_id: str) -> None:
    """The passport, its certificates and its credentials are the `learning_record` purpose (ADR
    0019, amendment): refused to everyone, the resident and staff alike, until the resident agrees."""
    if not await store.agrees_to(conn, resident_id, consent.LEARNING_RECORD):
        raise NoConsent(consent.NO_LEARNING_RECORD, field="consent")


async def check_agreement_rate(
    conn: asyncpg.Connection, resident_id: str, purpose: str, per_hour: int, *, field: str
) -> None:
    """Inside the transaction that holds the resident's row: refuse (429, naming `field`) one more
    agreement to `purpose` beyond `per_hour` changes of it within the hour."""
    now, recent = await store.recent(conn, resident_id, purpose)
    if (wait := consent.agreement_wait(now, recent, per_hour)) is not None:
        raise TooManyRequests(
            consent.too_many_changes(purpose, per_hour, wait), consent.wait_seconds(wait), field=field
        )


async def record_decisions(
    uow: UnitOfWork,
    notice: Notice,
    resident_id: str,
    decisions: Mapping[str, bool],
    *,
    recorded_by: str,
    correlation_id: str | None = None,
) -> list[str]:
    """Inside the caller's unit of work: the decisions under the current notice, and one event
    with the purposes the resident agrees to afterwards (returned)."""
    for purpose, granted in decisions.items():
        await store.record(uow.conn, resident_id, purpose, granted, notice.version, recorded_by)
    purposes = consent.granted(await store.decisions(uow.conn, resident_id))
    event = ResidentConsentsChanged(resident_id=resident_id, purposes=purposes, notice_version=notice.version)
    uow.publish(envelop(event, source=SOURCE, correlation_id=correlation_id))
    return purposes


def purposes_at_registration(resident: Mapping[str, Any]) -> dict[str, bool]:
    """What a registration form agreed to: the purposes ticked, and notifications with `consent`."""
    agreed = set(resident.get("consents") or ())
    if resident.get("consent"):
        agreed.add("notifications")
    return {p: True for p in consent.PURPOSES if p in agreed}


async def decide(
    uow_factory: UnitOfWorkFactory,
    notice: Notice,
    resident_id: str,
    purpose: str,
    *,
    granted: bool,
    notice_version: str | None,
    recorded_by: str,
    changes_per_hour: int,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    if (problem := consent.unknown_purpose(purpose)) is not None:
        raise Invalid(problem, field="purpose")
    if granted and (problem := consent.stale_notice(notice, notice_version or "")) is not None:
        raise Conflict(problem, field="notice_version")
    async with uow_factory() as uow:
        resident = await repository.get_resident(uow.conn, resident_id, lock=True)
        if resident is None:
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        history = await store.decisions(uow.conn, resident_id)
        flag_agrees = purpose != "notifications" or bool(resident["consent"]) == granted
        if flag_agrees and consent.changes_nothing(consent.current(history).get(purpose), granted, notice.version):
            return view(notice, resident_id, history)  # idempotent: nothing recorded, nothing published
        if granted:
            await check_agreement_rate(uow.conn, resident_id, purpose, changes_per_hour, field="purpose")
        if purpose == "notifications" and bool(resident["consent"]) != granted:
            updated = {**resident, "consent": granted}
            if model.channel_without_address(updated, {"consent"}) is not None:
                raise Invalid(
                    f"to agree to notifications, the preferred channel {resident['preferred_channel']} needs its"
                    " address: add it first (PATCH /v1/residents/{id}) / 同意接收通知前请先填写联系方式",
                    field="purpose",
                )
            await repository.update_resident(uow.conn, resident_id, {"consent": granted})
            contact = ResidentContactChanged(**{k: updated[k] for k in ("resident_id", *model.CONTACT_FIELDS)})
            uow.publish(envelop(contact, source=SOURCE, correlation_id=correlation_id))
        await record_decisions(
            uow, notice, resident_id, {purpose: granted}, recorded_by=recorded_by, correlation_id=correlation_id
        )
        history = await store.decisions(uow.conn, resident_id)
        await uow.commit()
    return view(notice, resident_id, history)


async def state(uow_factory: UnitOfWorkFactory, notice: Notice, resident_id: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        if await repository.get_resident(uow.conn, resident_id) is None:
            raise NotFound(f"unknown resident {resident_id} / 居民未登记", field="resident_id")
        history = await store.decisions(uow.conn, resident_id)
    return view(notice, resident_id, history)


def view(notice: Notice, resident_id: str, history: list[consent.Decision]) -> dict[str, Any]:
    latest = consent.current(history)

    def one(d: consent.Decision) -> dict[str, Any]:
        return {"purpose": d.purpose, "granted": d.granted, "notice_version": d.notice_version,
                "decided_at": d.decided_at, "recorded_by": d.recorded_by}  # fmt: skip

    return {
        "resident_id": resident_id,
        "notice_version": notice.version,
        "purposes": [
            {"purpose": p, "granted": latest[p].granted, "decision": one(latest[p])}
            if p in latest
            else {"purpose": p, "granted": False, "decision": None}
            for p in consent.PURPOSES
        ],
        "history": [one(d) for d in history],
    }
