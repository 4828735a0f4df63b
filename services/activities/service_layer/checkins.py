"""Kiosk check-ins to attendance: the hot path, one transaction per batch, no per-record SQL.

`CheckinProcessor` is the service's batch projector (see shared/bus/dispatch.py): the shared
dispatcher opens the batch's unit of work under the projector's lock and calls `project`. A batch
is: dedup by checkin_id (one multi-row INSERT … RETURNING), judge each new scan against the
in-memory caches (what they miss, and the batch's sessions, looked up in the database: one query
per kind), lock the batch's walk-in counters and load the attendance rows it touches (one SELECT
each, FOR UPDATE, sorted), fold the scans into them, then write attendance, walk-in counts, parked
scans, outcomes and outbox events in bulk. Several instances may run this at once (issue 12): no
decision rests on this instance's caches alone. Scans whose
resident or session is not known yet are parked and judged again (by the same `apply`, in a unit
of work of the sweeper's own, under the same lock) when a resident or a session arrives, and
periodically; only after the grace period are they rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from services.activities.adapters import checkin_outbox, repository
from services.activities.adapters.checkin_outbox import CheckinOutbox, OutEvent
from services.activities.domain import model, signing
from services.activities.domain.model import Attendance, Verdict
from services.activities.metrics import BATCH_SIZE, CACHE_MISSES, CHECKINS, PARKED, REJECTED, STAGE
from services.activities.service_layer import kiosk_signing
from services.activities.service_layer.handlers import SOURCE, Context
from shared.bus.consumer import dead_letter
from shared.bus.decoding import MAX_RECORD_BYTES, DeadLetter, Incoming, validation_detail
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from shared.events import codec
from shared.events.envelope import EventData

log = logging.getLogger(__name__)

CHECKIN_TYPE = "kiosk.checkin"

# A check-in has seven fields, whose free strings (kiosk, venue, resident, session) hold at most
# 128 characters each: a valid body has at most 4 × 128 + 35 of the characters that build JSON
# structure (`"`, `,`, `[`, `{`). Counting them (one C pass deleting them: ~0.3 ms for 200 KiB,
# 4x faster than four `count`s) refuses bodies built to cost CPU (20,000 unknown keys,
# 100,000-element arrays, deep nesting) before they are parsed.
MAX_STRUCTURAL_CHARS = 1024
_STRUCTURAL = b'",[{'


def decode_checkin(record) -> Incoming:
    """Decoder of the public kiosk contract (JSON body, key = resident id); what does not fit it is a
    dead letter with the field and the reason."""
    value = record.value
    if value is None:
        raise DeadLetter("invalid_checkin", "(body): empty record")
    if len(value) > MAX_RECORD_BYTES:
        raise DeadLetter("too_large", f"body of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
    if record.headers:
        _check_type(record.headers)
    structural = len(value) - len(value.translate(None, _STRUCTURAL))
    if structural > MAX_STRUCTURAL_CHARS:
        raise DeadLetter(
            "invalid_checkin",
            f"(body): {structural} structural characters (quotes, commas, brackets); a check-in has at most "
            f"{MAX_STRUCTURAL_CHARS}",
        )
    try:
        checkin = ev.KioskCheckin.model_validate_json(record.value)
    except ValidationError as e:
        raise DeadLetter("invalid_checkin", validation_detail(e)) from None
    if record.key is not None and record.key.decode("utf-8", "replace") != checkin.resident_id:
        raise DeadLetter("invalid_checkin", "key: the Kafka key must be the resident id")
    return Incoming(event_id=checkin.checkin_id, type_name=CHECKIN_TYPE, data=checkin, record=record)


def _check_type(headers) -> None:
    """The kiosk topic carries kiosk check-ins only. A record typed as another event (the shared
    kiosk principal can write any header) is refused, so that nothing on this topic is ever taken
    for an internal event, whatever a consumer of it does with `ce_type`."""
    for name, raw in headers:
        if name == "ce_type" and raw != _CHECKIN_TYPE_BYTES:
            type_name = (raw or b"").decode("utf-8", "replace")
            raise DeadLetter("unexpected_type", f"ce_type {type_name!r}: kiosk.checkins carries only kiosk check-ins")


_CHECKIN_TYPE_BYTES = CHECKIN_TYPE.encode()
_ENCODER = codec.Encoder(SOURCE)


def _event(data: EventData, event_id: uuid.UUID, at: datetime) -> OutEvent:
    """The record `envelop(data, ...)` would give, without building an Envelope model per event."""
    return _ENCODER.data(data, event_id, at)


def _conflict(
    first: ev.KioskCheckin, again: ev.KioskCheckin, conflicts: list[tuple[int, DeadLetter]], index: int
) -> DeadLetter | None:
    """The dead letter of `again` (item `index`) if it is not a retry of `first`, the scan that used
    its checkin_id first; it is added to `conflicts`."""
    differs = model.checkin_id_conflict(first, again)
    if not differs:
        return None
    letter = DeadLetter(
        "checkin_id_conflict",
        f"checkin_id {again.checkin_id} names a scan by kiosk {first.kiosk_id} (resident {first.resident_id}); "
        f"kiosk {again.kiosk_id} (resident {again.resident_id}) reused it with another {', '.join(differs)}; "
        "the first scan is kept",
    )
    conflicts.append((index, letter))
    return letter


class _Stages:
    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        STAGE.labels(stage).observe(now - self.last)
        self.last = now


@dataclass
class _Fold:
    """What one batch of scans does: outcomes per check-in, attendance to insert or adjust, events."""

    outcomes: dict[uuid.UUID, tuple[str, str, str | None]] = field(default_factory=dict)
    states: dict[tuple[str, str], Attendance] = field(default_factory=dict)
    new: dict[tuple[str, str], Attendance] = field(default_factory=dict)
    first_scan: dict[tuple[str, str], ev.KioskCheckin] = field(default_factory=dict)
    adjusted_by: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    # Attendance whose check-in or check-out time moved without changing its minutes (an earlier
    # check-in while no check-out is known): stored, no event, but a later check-out counts from it.
    moved: set[tuple[str, str]] = field(default_factory=set)
    new_walk_ins: Tally[str] = field(default_factory=Tally)
    parked: list[tuple[uuid.UUID, bytes, str, str, str]] = field(default_factory=list)
    parked_scans: list[ev.KioskCheckin] = field(default_factory=list)
    resolved: list[uuid.UUID] = field(default_factory=list)
    events: list[OutEvent] = field(default_factory=list)
    tally: Tally[str] = field(default_factory=Tally)
    reasons: Tally[str] = field(default_factory=Tally)


def _apply(state: Attendance, checkin: ev.KioskCheckin, key: tuple[str, str], f: _Fold) -> bool:
    """One more scan of an attendance; True when its minutes changed. A scan that only moves its
    check-in or check-out time is remembered in `f.moved` (stored, no event)."""
    bounds = (state.first_in, state.last_out)
    changed = state.apply(checkin.direction, checkin.scanned_at)
    if not changed and key not in f.new and (state.first_in, state.last_out) != bounds:
        f.moved.add(key)
    return changed


class CheckinProcessor:
    """The batch projector of kiosk check-ins, and the sweeper of parked ones."""

    event_types = frozenset({CHECKIN_TYPE})

    def __init__(
        self, ctx: Context, outbox: CheckinOutbox, *, grace: timedelta, late_sync: timedelta, sweep_every_s: float
    ) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.grace = grace
        self.late_sync = late_sync
        self.sweep_every_s = sweep_every_s
        # The consumer and the sweeper both fold into attendance and walk-in counts: one at a time.
        # The dispatcher holds it through the commit and the after-commit publish, so batches reach
        # the publisher in commit order (per-key order).
        self.lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def project(self, uow: UnitOfWork, events: list[Incoming]) -> None:
        """BatchProjector of kiosk.checkins: scans arriving now from Kafka. Their signatures are
        checked first (contract v2); refused ones are dead letters and never reach attendance."""
        refused = await kiosk_signing.refusals(
            uow.conn, [(e.data, e.record.headers) for e in events], datetime.now(UTC)
        )
        if refused:
            for i, why in refused.items():
                dead_letter(events[i], DeadLetter(signing.REASON, why))
            events = [e for i, e in enumerate(events) if i not in refused]
        for i, letter in await self.apply(uow, [(e.data, None) for e in events]):
            dead_letter(events[i], letter)

    async def apply(
        self, uow: UnitOfWork, items: Sequence[tuple[ev.KioskCheckin, datetime | None]]
    ) -> list[tuple[int, DeadLetter]]:
        """Apply `items` to attendance in `uow` (the caller holds `lock` and commits); caches, the
        check-in outbox publish and metrics follow the commit. `items`: (check-in, first seen) —
        first seen is None for scans arriving now from Kafka, or the time a parked scan first arrived.
        Returns the items refused (by index): scans reusing the checkin_id of another scan.

        Scans still parked for the residents of arriving scans are judged with them, first: once the
        resident is known, a later swipe arriving in another batch than the kiosk's retry of the
        parked one must not become the attendance's first scan, with the parked one merged into it."""
        parked_first = await self._parked_of_arriving(uow, items)
        if parked_first:
            refused = await self._apply([*parked_first, *items], uow)
            return [(i - len(parked_first), letter) for i, letter in refused if i >= len(parked_first)]
        return await self._apply(items, uow)

    async def _identified(
        self, conn, items: Sequence[tuple[ev.KioskCheckin, datetime | None]]
    ) -> Sequence[tuple[ev.KioskCheckin, datetime | None]]:
        """`items` with each scan naming its resident by resident id, before anything is stored or
        judged (docs/decisions/0010-erasure.md): a kiosk card (enrolment.resident-cards) is replaced
        by the id it maps to, so the ledger, attendance and events never hold the card; an erased
        card by `model.ERASED_CARD`, so its scan is refused at once (parked, it would sit under the
        card for the grace period and then go out as unknown_resident). A value that is a resident
        id is left alone; only values no cache knows are looked up (one query per kind, on batches
        that have any), and a card registered again since its erasure is a resident again."""
        caches = self.ctx.caches
        residents, cards, digests = caches.residents, caches.cards, self.ctx.card_digests
        digest_of: dict[str, str] = {}  # scanned value (not a resident id) → its card digest
        for checkin, _ in items:
            scanned = checkin.resident_id
            if scanned not in residents and scanned not in digest_of:
                digest_of[scanned] = digests.of(scanned) if digests is not None else scanned
        if not digest_of:
            return items
        mapped: dict[str, str] = {}  # scanned value → the resident id, or ERASED_CARD
        unknown = {d for d in digest_of.values() if d not in cards}
        if unknown:
            await caches.lookup_cards(conn, digests=sorted(unknown))  # another instance may know it already
            unknown.difference_update(cards)
        erased: set[str] = set()
        if unknown and self.ctx.erased_cards is not None:
            # remembered at erasure: the resident id (a legacy id-card) and the card's digest
            candidates = unknown | {scanned for scanned, digest in digest_of.items() if digest in unknown}
            erased = await self.ctx.erased_cards.among(conn, candidates)
        for scanned, digest in digest_of.items():
            if digest in cards:
                mapped[scanned] = cards[digest]
            elif digest in erased or scanned in erased:
                mapped[scanned] = model.ERASED_CARD
        if any(to == model.ERASED_CARD for to in mapped.values()):
            # a card (or legacy id) registered again since its erasure is a resident again
            again = [s for s, to in mapped.items() if to == model.ERASED_CARD]
            await caches.lookup_residents(conn, again)
            for scanned in again:
                if scanned in residents:
                    del mapped[scanned]
        if not mapped:
            return items
        return [
            (checkin.model_copy(update={"resident_id": mapped[checkin.resident_id]}), first_seen)
            if checkin.resident_id in mapped
            else (checkin, first_seen)
            for checkin, first_seen in items
        ]

    async def _parked_of_arriving(
        self, uow: UnitOfWork, items: Sequence[tuple[ev.KioskCheckin, datetime | None]]
    ) -> list[tuple[ev.KioskCheckin, datetime]]:
        residents = sorted({c.resident_id for c, first_seen in items if first_seen is None})
        if not residents:
            return []
        in_batch = {c.checkin_id for c, _ in items}
        rows = await repository.parked_of(uow.conn, residents)
        return [
            (ev.KioskCheckin.model_validate(r["payload"]), r["first_seen"])
            for r in rows
            if r["checkin_id"] not in in_batch
        ]

    async def _apply(
        self, items: Sequence[tuple[ev.KioskCheckin, datetime | None]], uow: UnitOfWork
    ) -> list[tuple[int, DeadLetter]]:
        now = datetime.now(UTC)
        clock = _Stages()
        BATCH_SIZE.observe(len(items))
        items = await self._identified(uow.conn, items)
        work: list[tuple[ev.KioskCheckin, datetime, bool]] = []
        first_of: dict[uuid.UUID, int] = {}  # checkin_id -> index of its first item
        repeats: dict[uuid.UUID, list[int]] = {}  # in-batch kiosk retries, by checkin_id
        conflicts: list[tuple[int, DeadLetter]] = []
        differs_from_first: dict[uuid.UUID, list[int]] = {}  # in-batch conflicts, judged again below
        in_batch_duplicates = 0
        for i, (checkin, first_seen) in enumerate(items):
            first = first_of.get(checkin.checkin_id)
            if first is not None:
                if _conflict(items[first][0], checkin, conflicts, i) is None:
                    in_batch_duplicates += 1
                    repeats.setdefault(checkin.checkin_id, []).append(i)
                else:
                    differs_from_first.setdefault(checkin.checkin_id, []).append(i)
                continue
            first_of[checkin.checkin_id] = i
            work.append((checkin, first_seen or now, first_seen is not None))
        verdicts = self._judge(work, now)
        clock.lap("judge")
        conn = uow.conn
        await self._look_up(conn, work, verdicts, now)
        clock.lap("lookup")
        if any(w[2] for w in work):
            # The sweeper read these before waiting for the lock; a batch of the consumer may
            # have settled some since (a kiosk retry of a parked scan): only still-parked ones.
            parked_ids = [w[0].checkin_id for w in work if w[2]]
            still = await repository.still_parked(conn, parked_ids)
            if len(still) < len(parked_ids):
                kept = [(w, v) for w, v in zip(work, verdicts, strict=True) if not w[2] or w[0].checkin_id in still]
                work, verdicts = [w for w, _ in kept], [v for _, v in kept]
        pairs = {
            (c.resident_id, v.session.session_id) for (c, _, _), v in zip(work, verdicts, strict=True) if v.session
        }
        seats = await repository.lock_walk_ins(conn, [p[1] for p in pairs])
        for session_id, (_, enrolled) in seats.items():
            self.ctx.caches.enrolled[session_id] = enrolled  # committed state, fresher than ours
        existing = await repository.existing_attendance(conn, list(pairs))
        clock.lap("load")
        fold = self._fold(work, verdicts, existing, seats, now)
        clock.lap("fold")
        # Dedup and the outcome in one statement: kiosk retries (same checkin_id) come back
        # not-inserted, and only then is the batch folded again without them (rare).
        arriving = [(w, fold.outcomes[w[0].checkin_id]) for w in work if not w[2]]
        fresh, revived = await repository.claim_checkins(conn, arriving)
        clock.lap("claim")
        duplicates = {w[0].checkin_id for w, _ in arriving} - fresh
        ledger_conflicts = 0
        if duplicates:
            stored = await repository.scans_of(conn, duplicates)
            for cid in duplicates:
                letter = cid in stored and _conflict(stored[cid], items[first_of[cid]][0], conflicts, first_of[cid])
                if letter:
                    ledger_conflicts += 1
                    # The batch's retries of a refused scan are refused with it.
                    again = repeats.pop(cid, ())
                    conflicts.extend((i, letter) for i in again)
                    in_batch_duplicates -= len(again)
                    # What differed from the refused one is judged against the stored scan: a kiosk
                    # retry of the stored scan behind a reuse is a retry, not a conflict.
                    rejudged = set(differs_from_first.pop(cid, ()))
                    if rejudged:
                        conflicts[:] = [(i, dead) for i, dead in conflicts if i not in rejudged]
                        for i in sorted(rejudged):
                            if _conflict(stored[cid], items[i][0], conflicts, i) is None:
                                in_batch_duplicates += 1
            kept = [(w, v) for w, v in zip(work, verdicts, strict=True) if w[0].checkin_id not in duplicates]
            work, verdicts = [w for w, _ in kept], [v for _, v in kept]
            fold = self._fold(work, verdicts, existing, seats, now)
            await repository.set_outcomes(conn, [(cid, *fold.outcomes[cid]) for cid in fresh])
        # Parked scans were stored when they first arrived; their rows get the new outcome.
        parked_work = [w[0] for w in work if w[2]]
        await repository.set_outcomes(
            conn,
            [(c.checkin_id, *fold.outcomes[c.checkin_id]) for c in parked_work],
            [c.resident_id for c in parked_work],
        )

        inserted = await repository.insert_attendance(conn, list(fold.new.values()))
        clock.lap("insert")
        lost = [key for key, state in fold.new.items() if state.attendance_id not in inserted]
        if lost:
            await self._fold_into_theirs(conn, lost, work, verdicts, fold)
        await repository.add_walk_ins(conn, fold.new_walk_ins)
        events = fold.events
        for key, state in fold.new.items():
            events.append(self._recorded(state, fold.first_scan[key], now))
        changed_rows = [*fold.adjusted_by, *(k for k in fold.moved if k not in fold.adjusted_by)]
        await repository.update_attendance(conn, [fold.states[k] for k in changed_rows])
        for key, trigger in fold.adjusted_by.items():
            state = fold.states[key]
            events.append(
                _event(
                    ev.AttendanceAdjusted.model_construct(
                        attendance_id=str(state.attendance_id),
                        resident_id=state.resident_id,
                        session_id=state.session.session_id,
                        community_id=state.session.community_id,
                        minutes=state.minutes,
                    ),
                    model.adjusted_event_id(state.attendance_id, trigger),
                    now,
                )
            )
        await repository.park(conn, fold.parked)
        # A revived scan settled now leaves the parked list (its parked copy is the same scan).
        revived_settled = [cid for cid in revived if fold.outcomes[cid][0] != "pending"]
        await repository.unpark(conn, fold.resolved + revived_settled)
        row_id = await checkin_outbox.write(conn, events) if events else None
        clock.lap("write")
        fold.tally["duplicate"] += in_batch_duplicates + len(duplicates) - ledger_conflicts
        fold.tally["conflict"] += len(conflicts)

        async def committed() -> None:
            clock.lap("commit")
            # Still under the lock (the caller holds it through the callbacks): batches reach the
            # publisher in commit order (per-key order).
            if row_id is not None:
                await self.outbox.after_commit(row_id, events)
            self._committed(fold, now)

        uow.after_commit(committed)
        return conflicts

    def _committed(self, fold: _Fold, now: datetime) -> None:
        """What follows a committed batch outside the database: wake-ups, metrics."""
        if fold.parked and any(v.kind != "park" for v in self._judge([(c, now, True) for c in fold.parked_scans], now)):
            # Judged on caches that have learnt the missing resident or session since: the sweep that
            # event triggered may have run before this batch committed, so ask for another.
            self.ctx.pending_signal.set()
        for outcome, n in fold.tally.items():
            CHECKINS.labels(outcome).inc(n)
        for reason, n in fold.reasons.items():
            REJECTED.labels(reason).inc(n)

    def _judge(self, work: Sequence[tuple[ev.KioskCheckin, datetime, bool]], now: datetime) -> list[Verdict]:
        caches = self.ctx.caches
        return [
            model.judge(
                checkin,
                kiosk_venue=caches.kiosk_venue.get(checkin.kiosk_id),
                resident_known=checkin.resident_id in caches.residents,
                session_by_id=caches.sessions.get,
                sessions_near=caches.sessions_near,
                enrolled=lambda s, r=checkin.resident_id: r in caches.enrolled.get(s, ()),
                waited=now - first_seen,
                grace=self.grace,
                received_at=first_seen,
                closing_of=caches.venue_closings.get,
            )
            for checkin, first_seen, _ in work
        ]

    async def _look_up(self, conn, work, verdicts: list[Verdict], now: datetime) -> None:
        """Ask the database before deciding on what the caches miss (an unknown kiosk, resident or
        session; another instance may have written it a moment ago) and for the sessions the batch
        attends (another instance may have cancelled or moved one): one query per kind, only for
        the kinds the batch needs; the scans concerned are judged again (`verdicts` in place)."""
        caches = self.ctx.caches
        kiosks, residents, session_ids, venues, times = set(), set(), set(), set(), []
        for (checkin, _, _), verdict in zip(work, verdicts, strict=True):
            if verdict.session is not None:  # attend: its session is re-read, nothing else is missing
                session_ids.add(verdict.session.session_id)
                continue
            if verdict.reason in ("unknown_kiosk", "kiosk_not_at_venue"):
                kiosks.add(checkin.kiosk_id)
                continue
            if verdict.reason == "resident_erased":
                continue  # final: the masked card is no one to look up
            if checkin.resident_id not in caches.residents:
                residents.add(checkin.resident_id)
            if checkin.session_id is not None:
                session_ids.add(checkin.session_id)
            elif verdict.reason in ("no_session_in_window", "session_not_at_venue"):
                venues.add(checkin.venue_id)
                times.append(checkin.scanned_at)
        if not (kiosks or residents or session_ids or venues):
            return
        before = {s: caches.sessions.get(s) for s in session_ids}
        if kiosks:
            CACHE_MISSES.labels("kiosk").inc(len(kiosks))
            await caches.lookup_kiosks(conn, sorted(kiosks))
        if residents:
            CACHE_MISSES.labels("resident").inc(len(residents))
            await caches.lookup_residents(conn, sorted(residents))
        if session_ids:
            await caches.lookup_sessions(conn, sorted(session_ids))
        if venues:
            CACHE_MISSES.labels("session").inc(len(venues))
            await caches.lookup_sessions_near(conn, sorted(venues), times)
        stale = {s for s, old in before.items() if caches.sessions.get(s) != old}
        if not (stale or kiosks or residents or venues):
            return  # the common batch: every scan attends a session that did not change
        again = [
            i
            for i, ((checkin, _, _), verdict) in enumerate(zip(work, verdicts, strict=True))
            if verdict.kind != "attend"
            or checkin.session_id in stale
            or (venues and checkin.venue_id in venues)
            or verdict.session.session_id in stale
        ]
        if again:
            for i, verdict in zip(again, self._judge([work[i] for i in again], now), strict=True):
                verdicts[i] = verdict

    async def _fold_into_theirs(self, conn, lost: list, work, verdicts: list[Verdict], f: _Fold) -> None:
        """Attendance another instance inserted between our SELECT and INSERT (a rebalance moved the
        partition while a batch was in flight): lock and read their row, and apply our scans of the
        pair to it as adjustments, so neither instance's scans are lost."""
        rows = await repository.existing_attendance(conn, lost)
        outcomes = []
        for key in lost:
            state = f.new.pop(key)
            f.states.pop(key)
            f.first_scan.pop(key)
            if state.walk_in:
                f.new_walk_ins[state.session.session_id] -= 1  # their row holds the seat
            row = rows[key]
            theirs = Attendance(
                row["attendance_id"], state.resident_id, state.session, row["checkin_id"], row["walk_in"],
                row["first_in_at"], row["last_out_at"], row["minutes"],
            )  # fmt: skip
            f.states[key] = theirs
            for (checkin, _, _), verdict in zip(work, verdicts, strict=True):
                if verdict.session is None or (checkin.resident_id, verdict.session.session_id) != key:
                    continue
                if f.outcomes[checkin.checkin_id][0] not in ("recorded", "adjusted", "merged"):
                    continue
                changed = _apply(theirs, checkin, key, f)
                if changed:
                    f.adjusted_by[key] = checkin.checkin_id
                outcome = "adjusted" if changed else "merged"
                f.outcomes[checkin.checkin_id] = (outcome, "", verdict.session.session_id)
                outcomes.append((checkin.checkin_id, outcome, "", verdict.session.session_id))
        await repository.set_outcomes(conn, outcomes)

    def _fold(self, work, verdicts: list[Verdict], existing: dict, seats: dict, now: datetime) -> _Fold:
        """Apply the batch's scans, in order, to the attendance they concern (pure, in memory).
        `seats`: per session, (walk-in seats taken, residents with a confirmed seat), read from the
        database under the session's counter lock."""
        f = _Fold()
        for (checkin, _, was_parked), verdict in zip(work, verdicts, strict=True):
            cid = checkin.checkin_id
            if verdict.kind == "park":
                f.parked_scans.append(checkin)
                f.parked.append(
                    (cid, checkin.model_dump_json().encode(), verdict.reason, checkin.resident_id, checkin.venue_id)
                )
                f.outcomes[cid] = ("pending", verdict.reason, None)
                if not was_parked:
                    f.tally["parked"] += 1
                continue
            if was_parked:
                f.resolved.append(cid)
            if verdict.kind == "reject":
                self._reject(checkin, verdict.reason, verdict.detail, f)
                continue
            session = verdict.session
            key = (checkin.resident_id, session.session_id)
            state = f.states.get(key)
            if state is None and key in existing:
                row = existing[key]
                state = Attendance(
                    row["attendance_id"], checkin.resident_id, session, row["checkin_id"], row["walk_in"],
                    row["first_in_at"], row["last_out_at"], row["minutes"],
                )  # fmt: skip
                f.states[key] = state
            if state is None:
                taken, enrolled = seats.get(session.session_id, (0, ()))
                walk_in = checkin.resident_id not in enrolled
                if walk_in:
                    taken += f.new_walk_ins[session.session_id]
                    if model.walk_in_seats_left(session.capacity, len(enrolled), taken) <= 0:
                        self._reject(checkin, "no_seats", f"session {session.session_id} has no seat left", f)
                        continue
                    f.new_walk_ins[session.session_id] += 1
                state = Attendance.start(checkin.resident_id, session, cid, walk_in)
                state.apply(checkin.direction, checkin.scanned_at)
                f.states[key] = f.new[key] = state
                f.first_scan[key] = checkin
                f.outcomes[cid] = ("recorded", "", session.session_id)
                f.tally["recorded"] += 1
                continue
            changed = _apply(state, checkin, key, f)
            if changed and key not in f.new:
                f.adjusted_by[key] = cid
            outcome = "adjusted" if changed else "merged"
            f.outcomes[cid] = (outcome, "", session.session_id)
            f.tally[outcome] += 1
        return f

    def _reject(self, checkin: ev.KioskCheckin, reason: str, detail: str, f: _Fold) -> None:
        f.events.append(
            _event(
                ev.AttendanceRejected.model_construct(
                    checkin_id=checkin.checkin_id,
                    kiosk_id=checkin.kiosk_id,
                    venue_id=checkin.venue_id,
                    resident_id=checkin.resident_id,
                    session_id=checkin.session_id,
                    scanned_at=checkin.scanned_at,
                    reason=reason,
                    detail=detail,
                ),
                model.rejected_event_id(checkin.checkin_id),
                datetime.now(UTC),
            )
        )
        f.outcomes[checkin.checkin_id] = ("rejected", reason, checkin.session_id)
        f.tally["rejected"] += 1
        f.reasons[reason] += 1

    def _recorded(self, state: Attendance, checkin: ev.KioskCheckin, now: datetime) -> OutEvent:
        session = state.session
        resident = self.ctx.caches.residents.get(state.resident_id)
        course = self.ctx.caches.courses.get(session.course_id)
        # The hottest line of the path: the body is built straight from validated values, in the
        # model's field order and JSON forms (tests/unit/activities check it against model_dump).
        at = checkin.scanned_at
        body = {
            "attendance_id": str(state.attendance_id),
            "checkin_id": str(checkin.checkin_id),
            "resident_id": state.resident_id,
            "session_id": session.session_id,
            "course_id": session.course_id,
            "venue_id": session.venue_id,
            "community_id": session.community_id,
            "resident_community_id": resident and resident.community_id,
            "audience_group": resident and resident.audience_group,
            "theme": course and course.theme,
            "provider_kind": course and course.provider_kind,
            "minutes": state.minutes,
            "scanned_at": at,
            "session_starts_at": session.starts_at,
            "late_sync": model.is_late_sync(at, now, self.late_sync),
            "walk_in": state.walk_in,
        }
        return _ENCODER.fields(
            ev.AttendanceRecorded, state.resident_id, model.recorded_event_id(state.resident_id, session.session_id),
            now, body,
        )  # fmt: skip

    # --- parked check-ins ---------------------------------------------------------------------

    async def sweep(self, page: int = 2000) -> int:
        """Judge every parked check-in again; returns how many were looked at."""
        looked = 0
        after = None
        while True:
            async with self.ctx.uow() as uow:
                rows = await repository.pending(uow.conn, page, after)
            if rows:
                await self._rejudge([(ev.KioskCheckin.model_validate(r["payload"]), r["first_seen"]) for r in rows])
                looked += len(rows)
                after = (rows[-1]["first_seen"], rows[-1]["checkin_id"])
            if len(rows) < page:
                break
        async with self.ctx.uow() as uow:
            PARKED.set(await repository.pending_count(uow.conn))
        return looked

    async def _rejudge(self, items: Sequence[tuple[ev.KioskCheckin, datetime]]) -> None:
        async with self.lock, self.ctx.uow() as uow:
            await self.apply(uow, items)
            await uow.commit()

    async def run(self) -> None:
        signal = self.ctx.pending_signal
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), self.sweep_every_s)
            signal.clear()
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-judging parked check-ins failed; retrying at the next sweep")
                await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="parked-checkins")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
