"""Helpers for notify's integration tests: publish events, read the SMTP sink and the SMS gateway,
and run a delivery worker in-process with a fake clock against the real notify database."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx

from services.notify.adapters.templates import Templates
from services.notify.bootstrap import build_channels
from services.notify.config import NotifySettings
from services.notify.service_layer.delivery import DeliveryWorker
from services.notify.service_layer.handlers import Deps
from shared.db.pool import create_pool
from shared.db.uow import UnitOfWorkFactory
from shared.events.catalogue import CourseCreated, EnrolmentConfirmed, ResidentContactChanged
from shared.events.envelope import Envelope, EventData, envelop
from tests.support import ROOT, client, env, eventually, producer, unique

MAIL_DIR = ROOT / ".local" / "mail"


class FakeClock:
    """A clock that moves only when told (the worker's `Clock`)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


def setting(key: str, default: str) -> str:
    return os.environ.get(key) or env().get(key) or default


SMS_URL = setting("NOTIFY_SMS_URL", "http://127.0.0.1:8105/v1/messages")
SMS_TOKEN = setting("NOTIFY_SMS_TOKEN", "local-sms-token")
GATEWAY = SMS_URL.rsplit("/v1/", 1)[0]


def phone() -> str:
    return "+86139" + str(int.from_bytes(os.urandom(4), "big") % 10**8).zfill(8)


def mailbox() -> str:
    return f"{unique('r')}@residents.example"


def contact(resident_id: str, **kw: Any) -> ResidentContactChanged:
    base: dict[str, Any] = dict(
        resident_id=resident_id,
        consent=True,
        # no quiet hours, so these tests pass at any time of day (quiet hours are tested with a fake clock)
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
    )
    return ResidentContactChanged(**{**base, **kw})


def confirmed(resident_id: str, *, session_id: str | None = None, starts_in: timedelta | None = None, **kw):
    now = datetime.now(UTC)
    return EnrolmentConfirmed(
        enrolment_id=kw.pop("enrolment_id", unique("enr")),
        session_id=session_id or unique("sess"),
        course_id=kw.pop("course_id", unique("course")),
        resident_id=resident_id,
        session_starts_at=kw.pop("session_starts_at", now + starts_in if starts_in else None),
        at=now,
        **kw,
    )


# Courses these tests made known to notify: a message waits for its course's title (issue 13), so an
# enrolment event is preceded by its course unless a test is about that wait (`known_courses=False`).
_COURSES: set[str] = set()


def course(course_id: str) -> CourseCreated:
    return CourseCreated(course_id=course_id, title_zh=f"课程{course_id[-4:]}", title_en=f"Course {course_id[-4:]}",
                         theme="culture")  # fmt: skip


def known_course(course_id: str) -> None:
    """A course the test announces itself (with a theme of its choice)."""
    _COURSES.add(course_id)


async def publish(principal: str, *items: EventData | Envelope, known_courses: bool = True) -> list[Envelope]:
    if known_courses and principal == "enrolment":
        courses = {getattr(i.data if isinstance(i, Envelope) else i, "course_id", None) for i in items}
        new = sorted(c for c in courses - _COURSES if c)
        if new:
            _COURSES.update(new)
            await publish("activities", *(course(c) for c in new))
    envelopes = [i if isinstance(i, Envelope) else envelop(i, source="tests/notify") for i in items]
    kafka = await producer(principal)
    try:
        for e in envelopes:
            await kafka.send_and_wait(
                e.topic, e.body(), key=e.key, headers=[(k, v.encode()) for k, v in e.headers().items()]
            )
    finally:
        await kafka.stop()
    return envelopes


# --- what residents received ------------------------------------------------------------------------


async def mails_to(address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(MAIL_DIR.glob("*.eml")):
        raw = path.read_bytes()
        if address.encode() not in raw:
            continue
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


async def gateway(method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=GATEWAY, headers={"Authorization": f"Bearer {SMS_TOKEN}"}) as http:
        return await http.request(method, path, **kw)


async def sms_to(number: str) -> list[dict]:
    response = await gateway("GET", "/admin/messages", params={"to": number})
    response.raise_for_status()
    return response.json()


async def gateway_requests(key: str) -> int:
    return (await gateway("GET", "/admin/requests", params={"key": key})).json()["requests"]


async def notifications(resident_id: str, **params: Any) -> list[dict]:
    async with client("notify") as http:
        response = await http.get(f"/v1/residents/{resident_id}/notifications", params=params)
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


async def wait_status(resident_id: str, kind: str, status: str, timeout_s: float = 30.0) -> dict:
    async def probe():
        for n in await notifications(resident_id):
            if n["kind"] == kind and n["status"] == status:
                return n
        return None

    return await eventually(probe, timeout_s=timeout_s, every_s=0.2)


# --- an in-process delivery worker with a fake clock -------------------------------------------------


def settings(**overrides: Any) -> NotifySettings:
    e = env()
    values: dict[str, Any] = dict(
        service="notify",
        kafka_username="notify",
        kafka_password=e.get("NOTIFY_KAFKA_PASSWORD", "unused"),
        database_url=e["NOTIFY_DATABASE_URL"],
        http_port=0,
        LS_JWT_SECRET=e["LS_JWT_SECRET"],
        sms_url=SMS_URL,
        sms_token=SMS_TOKEN,
        smtp_host=setting("NOTIFY_SMTP_HOST", "127.0.0.1"),
        smtp_port=int(setting("NOTIFY_SMTP_PORT", "8025")),
        db_pool_min=1,
        db_pool_max=4,
    )
    values.update(overrides)
    return NotifySettings(**values)


class InProcess:
    """Event handlers and a delivery worker on the real notify database, SMTP sink and gateway,
    driven by a fake clock and limited to the given residents (the service's own worker runs on
    real time; rows due in the fake future are never due for it)."""

    def __init__(self, pool: asyncpg.Pool, clock: FakeClock, residents: list[str], **overrides: Any) -> None:
        self.pool = pool
        self.clock = clock
        self.settings = settings(**overrides)
        self.uow = UnitOfWorkFactory(pool)
        self.worker = DeliveryWorker(
            uow_factory=self.uow,
            settings=self.settings,
            channels=build_channels(self.settings),
            templates=Templates(self.settings.templates_dir),
            clock=clock,
            residents=residents,
        )
        wait = timedelta(seconds=self.settings.contact_wait_s)
        # No wait for catalogue names unless a test asks (`catalogue_wait_s=`): most apply no catalogue.
        names = timedelta(seconds=overrides.get("catalogue_wait_s", 0))
        self.uow.deps = Deps(clock=clock, contact_wait=wait, wake_delivery=self.worker.wake.set, catalogue_wait=names)

    async def apply(self, handler, event) -> None:
        """Run an event handler (`services.notify.service_layer.handlers`) as the consumer would."""
        async with self.uow() as uow:
            await handler(uow, event, None)
            await uow.commit()

    async def row(self, resident_id: str, kind: str) -> asyncpg.Record:
        return await self.pool.fetchrow(
            "SELECT * FROM notifications WHERE resident_id = $1 AND kind = $2", resident_id, kind
        )


async def notify_pool() -> asyncpg.Pool:
    return await create_pool(env()["NOTIFY_DATABASE_URL"], min_size=1, max_size=4)


def future_shanghai(hour: int, minute: int = 0, days_ahead: int = 3) -> datetime:
    """A moment days ahead of real time (so the service's real-time worker leaves it alone)."""
    from zoneinfo import ZoneInfo

    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=days_ahead)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
