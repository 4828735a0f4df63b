"""Use cases of the organisations registry, nominations by people, knowledge competitions and
volunteer service hours; each runs in a unit of work, calls the model, commits its events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime

from services.scoring.adapters import registry, repository
from services.scoring.domain import organisations, selection, volunteering
from services.scoring.domain.competitions import Competition, check_results
from services.scoring.domain.honours import honour_id
from services.scoring.domain.periods import PeriodRules
from services.scoring.domain.selection import Refused, SelectionRules
from services.scoring.domain.street import period_of
from services.scoring.service_layer import handlers
from services.scoring.service_layer.handlers import SOURCE, Actor, Forbidden
from shared.db.uow import UnitOfWork
from shared.events.catalogue import (
    CompetitionSetUp,
    OrganisationRegistered,
    VolunteerServiceConfirmed,
    VolunteerServiceRecorded,
    VolunteerServiceRejected,
)
from shared.events.envelope import envelop
from shared.http.errors import Conflict, Invalid, NotFound

UowFactory = Callable[[], UnitOfWork]


def _refused(e: Refused) -> Exception:
    return (Conflict if e.conflict else Invalid)(e.reason, field=e.field)


# --- organisations and nominations -----------------------------------------------------------------


async def register_organisation(uow_factory: UowFactory, data: dict, communities: set[str], actor: Actor,
                                now: datetime) -> dict:  # fmt: skip
    try:
        organisations.check_registration(data["kind"], data["community_id"], communities)
    except Refused as e:
        raise _refused(e) from None
    async with uow_factory() as uow:
        row = await registry.insert_organisation(
            uow.conn, {**data, "registered_by": actor.subject, "registered_role": actor.role, "registered_at": now}
        )
        if row is None:
            raise Conflict(f"organisation {data['organisation_id']} is already registered", field="organisation_id")
        uow.publish(envelop(OrganisationRegistered(
            organisation_id=row["organisation_id"], kind=row["kind"], community_id=row["community_id"],
            name_zh=row["name_zh"], name_en=row["name_en"], actor=actor.subject, actor_role=actor.role, at=now,
        ), source=SOURCE))  # fmt: skip
        await uow.commit()
    return row


async def list_organisations(uow_factory: UowFactory, community_id: str | None, kind: str | None, limit: int):
    async with uow_factory() as uow:
        return await registry.list_organisations(uow.conn, community_id=community_id, kind=kind, limit=limit)


async def nominate(uow_factory: UowFactory, data: dict, chosen: SelectionRules, actor: Actor,
                   now: datetime) -> dict:  # fmt: skip
    """A workstation's or the street's nomination (提名) of an organisation or a family: a candidate
    that the selection of domain/selection.py takes on (409 when already nominated this period)."""
    kind, recipient, community = data["kind"], data["recipient_id"], data["community_id"]
    async with uow_factory() as uow:
        try:
            rule = organisations.recipient_rule(kind)
            if rule.recipient == "organisation":
                found = await registry.get_organisation(uow.conn, recipient)
                org = organisations.Organisation(found["organisation_id"], found["kind"], found["community_id"]) \
                    if found else None  # fmt: skip
                recipient_kind = organisations.check_organisation_nomination(kind, community, org)
                resident_ids: list[str] = []
            else:
                members = await registry.family_members(uow.conn, recipient)
                recipient_kind = organisations.check_family_nomination(kind, community, [c for _, c in members])
                resident_ids = [r for r, _ in members]
        except Refused as e:
            raise _refused(e) from None
        h = {
            "honour_id": honour_id(kind, data["period"], recipient), "kind": kind, "period": data["period"],
            "recipient_kind": recipient_kind, "recipient_id": recipient, "resident_ids": resident_ids,
            "community_id": community, "reason": data["reason"],
        }  # fmt: skip
        row = await repository.insert_honour(uow.conn, h, state=selection.initial_state(chosen.mode), at=now)
        if row is None:
            raise Conflict(f"{recipient} is already a candidate for {kind} in {data['period']}", field="recipient_id")
        await repository.add_steps(uow.conn, handlers._publish_new(uow, [row], actor, now))
        await uow.commit()
    return row


# --- honours awarded before learnstreet ----------------------------------------------------------

# Resident honours a street kept on paper (名单, 文件) before it ran learnstreet: recorded as
# awarded at once, since their review and notice (公示) happened then; the current period's go
# through the selection like every honour.
PAST_RESIDENT_KINDS = ("learning_star", "excellent_volunteer")


async def record_past_award(
    uow_factory: UowFactory, data: dict, actor: Actor, now: datetime, periods: PeriodRules
) -> dict:
    """A past period's resident honour from the street's records, with the decision it cites:
    awarded (and announced, so the resident's credential is issued) in one transaction. 422 for the
    current period, one before the street's records begin, or an unknown resident; 409 when that
    honour is already held."""
    if data["period"] >= period_of(now):
        raise Invalid(f"period {data['period']} is not past: this year's honours go through the selection"
                      " (nomination, review, notice) / 本年度荣誉须经评选与公示", field="period")  # fmt: skip
    if int(data["period"]) < periods.first:
        raise Invalid(f"period {data['period']} is before the street's records begin ({periods.first}, periods.first"
                      f" in the indicator file) / 早于街道记录起始年份 {periods.first}", field="period")  # fmt: skip
    async with uow_factory() as uow:
        community = await uow.conn.fetchval(
            "SELECT community_id FROM residents WHERE resident_id = $1", data["recipient_id"]
        )
        if community is None:
            raise Invalid(f"unknown resident {data['recipient_id']} (not registered, or not yet known here)",
                          field="recipient_id")  # fmt: skip
        h = {
            "honour_id": honour_id(data["kind"], data["period"], data["recipient_id"]), "kind": data["kind"],
            "period": data["period"], "recipient_kind": "resident", "recipient_id": data["recipient_id"],
            "resident_ids": [data["recipient_id"]], "community_id": community, "reason": data["reason"],
        }  # fmt: skip
        row = await repository.insert_honour(uow.conn, h, state=selection.AWARDED, at=now)
        if row is None:
            raise Conflict(f"{data['recipient_id']} holds {data['kind']} of {data['period']} already",
                           field="recipient_id")  # fmt: skip
        steps = handlers._publish_new(uow, [row], actor, now)
        for step in steps:
            if step["step"] == "awarded":
                step["detail"] = {"selection": "past_record", "decision_ref": data["decision_ref"]}
        await repository.add_steps(uow.conn, steps)
        await uow.commit()
    return row


# --- knowledge competitions ------------------------------------------------------------------------


def _competition(row: dict) -> Competition:
    return Competition(row["competition_id"], row["name_zh"], row["name_en"], row["rounds"], row["places"])


async def set_up_competition(uow_factory: UowFactory, data: dict, actor: Actor, now: datetime) -> tuple[dict, bool]:
    """The competition (created True), or the same set-up again (False); 409 for another set-up under its id."""
    async with uow_factory() as uow:
        row = await registry.insert_competition(uow.conn, {**data, "created_by": actor.subject, "created_at": now})
        if row is None:
            held = await registry.get_competition(uow.conn, data["competition_id"])
            if held is not None and _competition(held).same_setup(_competition({**data})):
                return held, False
            raise Conflict(f"competition {data['competition_id']} is set up otherwise: "
                           f"{held['rounds'] if held else '?'} rounds, {held['places'] if held else '?'} places",
                           field="competition_id")  # fmt: skip
        uow.publish(envelop(CompetitionSetUp(
            competition_id=row["competition_id"], name_zh=row["name_zh"], name_en=row["name_en"],
            rounds=row["rounds"], places=row["places"], actor=actor.subject, actor_role=actor.role, at=now,
        ), source=SOURCE))  # fmt: skip
        await uow.commit()
    return row, True


async def competition_record(uow_factory: UowFactory, competition_id: str, kind: str) -> dict:
    async with uow_factory() as uow:
        row = await registry.get_competition(uow.conn, competition_id)
        if row is None:
            raise NotFound(f"no competition {competition_id}", field="competition_id")
        placed = await registry.competition_honours(uow.conn, kind)
    return {**row, "placed": placed}


async def check_competition_results(uow_factory: UowFactory, competition_id: str, round_no: int,
                                    places: list[int]) -> None:  # fmt: skip
    """422 naming the field for results of a competition not set up, a round it lacks, a rank past its places."""
    async with uow_factory() as uow:
        row = await registry.get_competition(uow.conn, competition_id)
    try:
        check_results(_competition(row) if row else None, competition_id, round_no, places)
    except Refused as e:
        raise _refused(e) from None


# --- volunteer service hours -----------------------------------------------------------------------


async def record_service(uow_factory: UowFactory, data: dict, actor: Actor, today: date, now: datetime) -> dict:
    """Service hours at a venue or a session, for a coordinator to confirm (422 with the field for an
    unknown volunteer, venue or session, and for hours no day can hold)."""
    async with uow_factory() as uow:
        if not await registry.resident_known(uow.conn, data["volunteer_id"]):
            raise Invalid(f"no registered resident {data['volunteer_id']}", field="volunteer_id")
        where, place = ("venue_id", data["venue_id"]) if data.get("venue_id") else ("session_id", data["session_id"])
        lookup = registry.venue_community if where == "venue_id" else registry.session_community
        known, community = await lookup(uow.conn, place)
        if not known:
            raise Invalid(f"no {where.removesuffix('_id')} {place}", field=where)
        if community is None:
            raise Invalid(f"{where.removesuffix('_id')} {place} has no community to confirm it", field=where)
        already = await registry.hours_on(uow.conn, data["volunteer_id"], data["day"], list(volunteering.HOLDS_HOURS))
        try:
            volunteering.check_service(data["hours"], data["day"], today, already)
        except Refused as e:
            raise _refused(e) from None
        row = await registry.insert_service(uow.conn, {
            **data, "service_id": uuid.uuid4(), "community_id": community, "recorded_by": actor.subject,
            "recorded_role": actor.role, "recorded_at": now,
        })  # fmt: skip
        uow.publish(envelop(VolunteerServiceRecorded(
            service_id=str(row["service_id"]), volunteer_id=row["volunteer_id"], venue_id=row["venue_id"],
            session_id=row["session_id"], community_id=community, day=row["day"].isoformat(),
            hours=float(row["hours"]), what=row["what"], actor=actor.subject, actor_role=actor.role, at=now,
        ), source=SOURCE))  # fmt: skip
        await uow.commit()
    return row


async def decide_service(uow_factory: UowFactory, service_id: uuid.UUID, decision: str, reason: str | None,
                         actor: Actor, scope: str | None, now: datetime) -> dict:  # fmt: skip
    """A coordinator confirms or rejects recorded service; a community worker only its community's (403)."""
    async with uow_factory() as uow:
        s = await registry.service_for_update(uow.conn, service_id)
        if s is None:
            raise NotFound(f"no volunteer service {service_id}", field="service_id")
        if scope is not None and s["community_id"] != scope:
            raise Forbidden(f"service {service_id} was at community {s['community_id']}, not {scope}")
        try:
            state = volunteering.decide(s["state"], decision, reason)
        except Refused as e:
            raise _refused(e) from None
        s = await registry.decide_service(uow.conn, service_id, state, actor.subject, actor.role, now, reason or "")
        common = {"service_id": str(service_id), "volunteer_id": s["volunteer_id"], "community_id": s["community_id"],
                  "actor": actor.subject, "actor_role": actor.role, "at": now}  # fmt: skip
        if state == volunteering.CONFIRMED:
            event = VolunteerServiceConfirmed(**common, day=s["day"].isoformat(), hours=float(s["hours"]))
        else:
            event = VolunteerServiceRejected(**common, reason=s["reason"])
        uow.publish(envelop(event, source=SOURCE))
        await uow.commit()
    return s


async def list_service(uow_factory: UowFactory, **filters) -> list[dict]:
    async with uow_factory() as uow:
        return await registry.list_service(uow.conn, **filters)


async def service_hours(uow_factory: UowFactory, volunteer_id: str, period: str) -> dict[str, float]:
    year = int(period)
    async with uow_factory() as uow:
        return await registry.service_hours(uow.conn, volunteer_id, date(year, 1, 1), date(year + 1, 1, 1))
