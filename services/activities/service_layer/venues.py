"""Closing and reopening a venue (issue 14): who may, the rules (domain/model.py `close_venue`,
`reopen_venue`), the closing stored and its event published in one transaction, then this
instance's check-in caches updated (other instances' through the announcement)."""

from __future__ import annotations

from datetime import date

from services.activities.adapters import repository, venue_closing
from services.activities.domain import model
from services.activities.domain.model import Closing, RuleViolated, Venue
from services.activities.service_layer.handlers import SOURCE, Context
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from shared.events.envelope import envelop
from shared.http.auth import Principal
from shared.http.errors import Conflict, Invalid, NotFound


def _may_change(principal: Principal, venue: Venue) -> None:
    # A community worker closes venues of their own community only; an operator any.
    if principal.role == "community_worker" and principal.community_id != venue.community_id:
        raise NotFound(f"no venue {venue.venue_id} in community {principal.community_id}", field="venue_id")


async def _venue(uow: UnitOfWork, venue_id: str) -> Venue:
    venue = await repository.get_venue(uow.conn, venue_id, for_update=True)
    if venue is None:
        raise NotFound(f"no venue {venue_id}", field="venue_id")
    return venue


async def close(
    ctx: Context, venue_id: str, on: date, reason: str, principal: Principal, correlation_id: str | None = None
) -> Closing:
    async with ctx.uow() as uow:
        venue = await _venue(uow, venue_id)
        _may_change(principal, venue)
        current = await venue_closing.closing_of(uow.conn, venue_id, for_update=True)
        try:
            closing = model.close_venue(current, on, reason)
        except RuleViolated as e:
            raise (Invalid if e.field == "reason" else Conflict)(e.reason, field=e.field) from None
        await venue_closing.save_closing(uow.conn, venue_id, closing)
        event = ev.VenueClosed(venue_id=venue_id, community_id=venue.community_id, closed_on=on, reason=closing.reason)
        uow.publish(envelop(event, source=SOURCE, correlation_id=correlation_id))
        await uow.commit()
    ctx.caches.venue_closings[venue_id] = closing
    return closing


async def reopen(
    ctx: Context, venue_id: str, on: date, principal: Principal, correlation_id: str | None = None
) -> Closing:
    async with ctx.uow() as uow:
        venue = await _venue(uow, venue_id)
        _may_change(principal, venue)
        current = await venue_closing.closing_of(uow.conn, venue_id, for_update=True)
        try:
            closing = model.reopen_venue(current, on)
        except RuleViolated as e:
            raise (Conflict if current is None or current.reopened_on else Invalid)(e.reason, field=e.field) from None
        await venue_closing.save_closing(uow.conn, venue_id, closing)
        event = ev.VenueReopened(venue_id=venue_id, community_id=venue.community_id, reopened_on=on)
        uow.publish(envelop(event, source=SOURCE, correlation_id=correlation_id))
        await uow.commit()
    ctx.caches.venue_closings[venue_id] = closing
    return closing


async def closing(ctx: Context, venue_id: str) -> Closing | None:
    async with ctx.uow() as uow:
        return await venue_closing.closing_of(uow.conn, venue_id)
