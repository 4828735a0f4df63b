"""The delivery worker: takes due notifications and hands them to a channel.

One round (`run_once`):
1. in one transaction, lock due rows (`FOR UPDATE SKIP LOCKED`, so several instances share the
   queue), decide for each (send, defer for quiet hours, wait for a contact, suppress, fail) and,
   for those to send, render the text once and record the attempt (`sending`, attempts + 1, a
   lease) before anything leaves the service;
2. send outside the transaction (the SMS gateway gets the idempotency key, the e-mail a
   Message-ID derived from it);
3. record the batch's outcomes together, in one transaction with their `notification.sent` /
   `.failed` events, once all of its sends have returned.

A crash between 2 and 3 leaves the batch's rows in `sending`; when their lease runs out they are
sent again with the same keys and the same stored texts, so the gateway answers with the original
messages and an e-mail can at worst arrive twice identical. A failed record (the database gone
for a moment) is the same case: nothing is lost, the rows go again under their keys.

The service's loop claims the next batch while the previous one is being sent (one batch in
flight besides the one being claimed); `run_once` does one round start to end.

With several instances, a row whose lease ran out belongs to whichever worker claims it next. A
worker that was held up past its own lease before sending (frozen, a stalled event loop, its
other messages queued behind a slow provider) therefore sends nothing it claimed: the row may be
on its way through another instance already (`model.lease_holds`, checked right before each send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from services.notify import metrics
from services.notify.adapters import repository
from services.notify.adapters.channels import DeliveryError, Outgoing
from services.notify.adapters.clock import Clock
from services.notify.adapters.templates import DEFAULT_LANGUAGE, Templates
from services.notify.config import NotifySettings
from services.notify.domain import model
from shared.db.uow import UnitOfWork
from shared.events.catalogue import NotificationFailed, NotificationSent
from shared.events.envelope import envelop

log = logging.getLogger(__name__)
SOURCE = "learnstreet/notify"

NO_REASON = {"zh-CN": "未说明", "en": "not given"}
# What a message says once it waited its bound (`catalogue_wait_s`) for a name the catalogue never
# gave: words a resident understands, never the raw id.
NAMELESS = {
    "course_title": {"zh-CN": "您报名的课程", "en": "your course"},
    "venue_name": {"zh-CN": "场地另行通知", "en": "venue to be announced"},
    "session_time": {"zh-CN": "时间另行通知", "en": "time to be announced"},
}


def nameless(field: str, language: str) -> str:
    return NAMELESS[field].get(language, NAMELESS[field]["zh-CN"])


def timezone(name: str):
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # a machine without tzdata: Shanghai has had no DST since 1991
        from datetime import timezone as fixed

        return fixed(timedelta(hours=8), name)


def format_time(at: datetime | None, language: str, tz) -> str:
    if at is None:
        return "-"
    local = at.astimezone(tz)
    if language == "en":
        return f"{local:%a %d %b %Y, %H:%M}"
    weekday = "一二三四五六日"[local.weekday()]
    return f"{local.year}年{local.month}月{local.day}日（周{weekday}）{local:%H:%M}"


class Channels:
    """What the worker sends through: `send(channel, message) -> provider id` (the crash tests
    wrap it: services/notify/adapters/faults.py)."""

    def __init__(self, sms, email) -> None:
        self.by_name = {"sms": sms, "email": email}

    async def send(self, channel: str, message: Outgoing) -> str:
        return await self.by_name[channel].send(message)

    async def close(self) -> None:
        for channel in self.by_name.values():
            with contextlib.suppress(Exception):
                await channel.close()


class DeliveryWorker:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        settings: NotifySettings,
        channels: Channels,
        templates: Templates,
        clock: Clock,
        residents: list[str] | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.s = settings
        self.channels = channels
        self.templates = templates
        self.clock = clock
        # Tests run a worker in-process on their own residents only, next to the service's worker.
        self.residents = residents
        self.tz = timezone(settings.timezone)
        self.quiet = model.QuietHours.parse(settings.quiet_hours_start, settings.quiet_hours_end, self.tz)
        self.wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="notify-delivery")

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=15)
        await self.channels.close()

    async def _loop(self) -> None:
        failures = 0
        sending: asyncio.Task | None = None
        try:
            while not self._stopping:
                try:
                    batch = await self.claim()
                    if sending is not None:  # the previous batch goes out while this one was claimed
                        await sending
                        sending = None
                    if batch.to_send:
                        sending = asyncio.create_task(self._send_logged(batch), name="notify-send")
                    handled = batch.handled
                    await self._update_depth()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("delivery round failed (%d in a row)", failures)
                    handled = 0
                    await asyncio.sleep(min(30.0, model.retry_delay(failures, 0.5, 30.0)))
                if handled >= self.s.worker_batch:
                    continue  # more may be due right away
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.s.worker_poll_s)
                self.wake.clear()
        finally:
            if sending is not None:
                await sending

    async def _send_logged(self, batch: _Batch) -> None:
        """`send` for the loop's pipelined batch: its failure (a record that did not commit) is
        logged; the rows stay `sending` and go again under their keys once the lease runs out."""
        try:
            await self.send(batch)
        except Exception:
            log.exception("delivery of a batch of %d failed; resent once its lease runs out", len(batch.to_send))

    async def _update_depth(self) -> None:
        async with self.uow_factory() as uow:
            depth = await repository.queue_depth(uow.conn)
        for status in model.PENDING_STATUSES:
            metrics.QUEUE_DEPTH.labels(status).set(depth.get(status, 0))

    # --- one round --------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Decide on every due notification and send those that may go now; returns how many rows
        were handled."""
        batch = await self.claim()
        await self.send(batch)
        return batch.handled

    async def claim(self) -> _Batch:
        """Step 1: claim due rows, decide on each, record the attempts of those to send (committed)."""
        now = self.clock.now()
        to_send: list[_Claimed] = []
        attempts: list[repository.Attempt] = []
        lease_until = now + timedelta(seconds=self.s.lease_s)
        async with self.uow_factory() as uow:
            rows = await repository.claim_due(uow.conn, now, self.s.worker_batch, self.residents)
            if not rows:
                return _Batch(0, [], lease_until)
            resident_ids = list({r["resident_id"] for r in rows})
            contacts = await repository.contacts_of(uow.conn, resident_ids)
            languages = await repository.languages_of(uow.conn, resident_ids)
            course_ids = list({(r["params"] or {}).get("course_id") for r in rows} - {None})
            titles = await repository.titles_of(uow.conn, course_ids)
            # a seat notice or reminder names its session's venue (a change notice carries the new one)
            placed = list({r["session_id"] for r in rows if not (r["params"] or {}).get("venue_id")} - {None})
            session_venues = await repository.session_venues(uow.conn, placed) if placed else {}
            venue_ids = list(
                ({(r["params"] or {}).get("venue_id") for r in rows} | set(session_venues.values())) - {None}
            )
            venues = await repository.venue_names(uow.conn, venue_ids) if venue_ids else {}
            untimed = list({r["session_id"] for r in rows if r["session_starts_at"] is None} - {None})
            starts = await repository.session_starts(uow.conn, untimed) if untimed else {}
            for row in rows:
                contact = contacts.get(row["resident_id"])
                known = _Known(titles, venues, starts, session_venues)
                pending = model.Pending(
                    notification_id=str(row["notification_id"]),
                    resident_id=row["resident_id"],
                    kind=row["kind"],
                    attempts=row["attempts"],
                    created_at=row["created_at"],
                    contact_deadline=row["contact_deadline"],
                    channel=row["channel"],
                    session_starts_at=row["session_starts_at"],
                    params=row["params"] or {},
                    names_missing=known.missing(row, self.templates.fields(row["kind"])),
                    catalogue_deadline=row["catalogue_deadline"],
                )
                decision = model.decide(pending, contact, now, self.quiet, self.s.max_attempts)
                nid = row["notification_id"]
                if isinstance(decision, model.Send):
                    language = row["language"] or (
                        contact.language if contact else languages.get(row["resident_id"], DEFAULT_LANGUAGE)
                    )
                    subject, body = row["rendered_subject"], row["rendered_body"]
                    if body is None:  # rendered once, then always resent as stored
                        rendered = self._render(row, language, known)
                        subject, body = rendered.subject, rendered.body
                    token = uuid.uuid4()
                    attempts.append(
                        repository.Attempt(
                            nid, token, decision.channel, _hint(decision.address), language, subject, body
                        )
                    )
                    outgoing = Outgoing(
                        notification_id=str(nid),
                        resident_id=row["resident_id"],
                        idempotency_key=row["idempotency_key"],
                        address=decision.address,
                        subject=subject,
                        body=body,
                        language=language,
                        first_attempt_at=row["first_attempt_at"] or now,
                        kind=row["kind"],
                    )
                    to_send.append(_Claimed(row, decision.channel, token, outgoing))
                elif isinstance(decision, model.Defer):
                    await repository.reschedule(
                        uow.conn, nid, now=now, status=model.DEFERRED, due_at=decision.until, reason="quiet_hours"
                    )
                    if row["status"] != model.DEFERRED:
                        metrics.MESSAGES.labels(row["channel"] or "none", row["kind"], model.DEFERRED).inc()
                elif isinstance(decision, model.AwaitCatalogue):
                    await repository.reschedule(
                        uow.conn, nid, now=now, status=model.QUEUED, due_at=decision.until, reason="awaiting_catalogue"
                    )
                elif isinstance(decision, model.AwaitContact):
                    await repository.reschedule(
                        uow.conn, nid, now=now, status=model.QUEUED, due_at=decision.until, reason="awaiting_contact"
                    )
                elif isinstance(decision, model.Suppress):
                    await repository.finish(uow.conn, nid, now=now, status=model.SUPPRESSED, reason=decision.reason)
                    metrics.MESSAGES.labels("none", row["kind"], model.SUPPRESSED).inc()
                elif isinstance(decision, model.Fail):
                    await self._fail(uow, row, now, decision.reason, None, None)
            await repository.mark_sending(uow.conn, attempts, now=now, lease_until=lease_until)
            await uow.commit()
        return _Batch(len(rows), to_send, lease_until)

    async def send(self, batch: _Batch) -> None:
        """Steps 2 and 3: hand the claimed messages to their channels (`send_concurrency` at a
        time), then record all their outcomes in one transaction."""
        if not batch.to_send:
            return
        limit = asyncio.Semaphore(self.s.send_concurrency)

        async def one(claimed: _Claimed) -> _Outcome | None:
            async with limit:
                return await self._send_one(claimed, batch.lease_until)

        outcomes = [o for o in await asyncio.gather(*(one(c) for c in batch.to_send)) if o is not None]
        if outcomes:
            await self._record(outcomes)

    def _render(self, row: asyncpg.Record, language: str, known: _Known) -> model.Rendered:
        params = dict(row["params"] or {})
        zh = language != "en"
        title = known.titles.get(params.get("course_id"))
        venue = known.venues.get(known.venue_of(row))
        starts_at = row["session_starts_at"] or known.starts.get(row["session_id"])
        values = {
            **params,
            "course_title": title[0 if zh else 1] if title else nameless("course_title", language),
            "venue_name": venue[0 if zh else 1] if venue else nameless("venue_name", language),
            "session_time": (
                format_time(starts_at, language, self.tz) if starts_at else nameless("session_time", language)
            ),
            "reason": params.get("reason") or NO_REASON.get(language, NO_REASON["zh-CN"]),
            "street_name": self.templates.street_name(language),
        }
        if "honour_kind" in params:
            values["honour_name"] = self.templates.honour_name(params["honour_kind"], language)
        return model.render(self.templates.text(language, row["kind"]), values)

    async def _send_one(self, claimed: _Claimed, lease_until: datetime) -> _Outcome | None:
        """Send one claimed message; None when its lease ran out before it could go."""
        channel, outgoing = claimed.channel, claimed.outgoing
        if not model.lease_holds(self.clock.now(), lease_until):
            # Left as it is: the row is due again (or already claimed by another worker).
            metrics.LEASES_LOST.labels(channel).inc()
            log.warning(
                "notification %s: lease ran out before sending; not sent by this worker", outgoing.notification_id
            )
            return None
        try:
            provider_id = await self.channels.send(channel, outgoing)
        except DeliveryError as error:
            return _Outcome(claimed, self.clock.now(), error=error)
        return _Outcome(claimed, self.clock.now(), provider_id=provider_id or None)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        """The outcomes of one batch, with their events, in one transaction."""
        now = self.clock.now()
        sent = [o for o in outcomes if o.error is None]
        async with self.uow_factory() as uow:
            done = await repository.finish_sent(
                uow.conn,
                [repository.Sent(o.claimed.row["notification_id"], o.claimed.token, o.provider_id, o.at) for o in sent],
                now=now,
            )
            uow.publish(*(envelop(_event(NotificationSent, d), source=SOURCE) for d in done))
            for outcome in outcomes:
                if outcome.error is not None:
                    await self._unsent(uow, outcome)
            await uow.commit()
        recorded = {d["notification_id"] for d in done}
        for o in sent:
            row = o.claimed.row
            if row["notification_id"] in recorded:
                metrics.MESSAGES.labels(o.claimed.channel, row["kind"], model.SENT).inc()
                metrics.LATENCY.labels(o.claimed.channel).observe(
                    max(0.0, (o.at - row["triggered_at"]).total_seconds())
                )

    async def _unsent(self, uow: UnitOfWork, outcome: _Outcome) -> None:
        """A channel refused or failed: fail for good, or retry later."""
        error, row, channel, token = outcome.error, outcome.claimed.row, outcome.claimed.channel, outcome.claimed.token
        assert error is not None
        attempts = row["attempts"] + 1
        now = outcome.at
        if error.permanent or attempts >= self.s.max_attempts:
            reason = error.reason if error.permanent else "retries_exhausted"
            await self._fail(uow, row, now, reason, error.detail, token, channel=channel, attempts=attempts)
            return
        delay = model.retry_delay(attempts, self.s.retry_base_s, self.s.retry_cap_s)
        await repository.reschedule(
            uow.conn, row["notification_id"], now=now, status=model.QUEUED,
            due_at=now + timedelta(seconds=delay), reason="retrying", error=error.detail[:500],
            claim_token=token,
        )  # fmt: skip
        metrics.RETRIES.labels(channel, error.reason).inc()
        log.info("notification %s: %s, retry %d in %.0fs", row["notification_id"], error, attempts, delay)

    async def _fail(
        self,
        uow: UnitOfWork,
        row: asyncpg.Record,
        now: datetime,
        reason: str,
        detail: str | None,
        token: uuid.UUID | None,
        *,
        channel: str | None = None,
        attempts: int | None = None,
    ) -> None:
        done = await repository.finish(
            uow.conn, row["notification_id"], now=now, status=model.FAILED, reason=reason,
            error=(detail or reason)[:500], claim_token=token,
        )  # fmt: skip
        if done is None:
            return
        await repository.add_dead_letter(
            uow.conn, row["notification_id"], reason=reason, detail=detail,
            attempts=attempts if attempts is not None else row["attempts"], now=now,
        )  # fmt: skip
        uow.publish(envelop(_event(NotificationFailed, done, reason=reason), source=SOURCE))
        metrics.MESSAGES.labels(channel or row["channel"] or "none", row["kind"], model.FAILED).inc()
        metrics.DEAD_LETTERS.labels(reason).inc()
        log.warning("notification %s failed for good: %s", row["notification_id"], reason)


@dataclass(frozen=True)
class _Claimed:
    """A claimed message to send: its row, channel, claim token and what goes out."""

    row: asyncpg.Record
    channel: str
    token: uuid.UUID
    outgoing: Outgoing


@dataclass(frozen=True)
class _Batch:
    handled: int  # rows claimed and decided on
    to_send: list[_Claimed]
    lease_until: datetime


@dataclass(frozen=True)
class _Outcome:
    claimed: _Claimed
    at: datetime  # when the channel answered
    provider_id: str | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True)
class _Known:
    """The catalogue names known for one round's rows."""

    titles: dict[str, tuple[str, str]]
    venues: dict[str, tuple[str, str]]
    starts: dict[str, datetime]
    session_venues: dict[str, str]

    def venue_of(self, row: asyncpg.Record) -> str | None:
        return (row["params"] or {}).get("venue_id") or self.session_venues.get(row["session_id"])

    def missing(self, row: asyncpg.Record, fields: set[str]) -> frozenset[str]:
        params = row["params"] or {}
        missing = set()
        if "course_title" in fields and params.get("course_id") and params["course_id"] not in self.titles:
            missing.add("course_title")
        venue = self.venue_of(row)
        if "venue_name" in fields and venue and venue not in self.venues:
            missing.add("venue_name")
        if "session_time" in fields and row["session_starts_at"] is None and row["session_id"] not in self.starts:
            missing.add("session_time")
        return frozenset(missing)


def _event(cls, done: asyncpg.Record, **extra):
    return cls(
        notification_id=str(done["notification_id"]),
        kind=done["kind"],
        channel=done["channel"] or "sms",
        attempts=done["attempts"],
        triggered_at=done["triggered_at"],
        **extra,
    )


def _hint(address: str) -> str:
    """Enough of the address for an operator to recognise it, not enough to misuse it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"***{address[-4:]}"
