"""The check-in path builds its events without pydantic models per event and stores a batch of them
as one outbox row: the records must be exactly what the catalogue models and envelopes give."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import orjson
import pytest

from services.activities.adapters.cache import Caches, CourseInfo, ResidentInfo
from services.activities.domain import model
from services.activities.domain.model import Attendance, Session
from services.activities.service_layer.checkins import SOURCE, CheckinProcessor, _event
from shared.events import catalogue as ev
from shared.events import codec
from shared.events.envelope import envelop

SESSION = Session(
    session_id="s1",
    course_id="c1",
    venue_id="v1",
    community_id="pinghu",
    starts_at=datetime(2026, 5, 1, 11, 0, tzinfo=UTC),
    ends_at=datetime(2026, 5, 1, 13, 0, tzinfo=UTC),
    capacity=30,
)


def processor(caches: Caches) -> CheckinProcessor:
    ctx, no_outbox = SimpleNamespace(caches=caches), None  # _recorded touches neither the database nor Kafka
    return CheckinProcessor(
        ctx, no_outbox, grace=timedelta(minutes=10), late_sync=timedelta(minutes=15), sweep_every_s=30
    )


def scan(at: datetime, **extra) -> ev.KioskCheckin:
    return ev.KioskCheckin(
        checkin_id=uuid.uuid4(), kiosk_id="k1", venue_id="v1", resident_id="PH001", scanned_at=at, **extra
    )


@pytest.mark.parametrize(
    ("at", "known"),
    [
        (datetime(2026, 5, 1, 11, 2, 11, tzinfo=UTC), True),
        (datetime(2026, 5, 1, 19, 2, 11, 123456, tzinfo=timezone(timedelta(hours=8))), True),
        (datetime(2026, 5, 1, 9, 0, tzinfo=UTC), False),  # unknown resident and course, synced late
    ],
)
def test_recorded_event_is_the_catalogue_model_dumped_with_envelope_headers(at, known):
    caches = Caches()
    if known:
        caches.residents["PH001"] = ResidentInfo("pinghu", ev.AudienceGroup("elderly"), False)
        caches.courses["c1"] = CourseInfo("reading", ev.ProviderKind("school_teacher"), False)
    checkin = scan(at)
    state = Attendance.start("PH001", SESSION, checkin.checkin_id, walk_in=True)
    state.apply("in", at)
    now = at + (timedelta(minutes=2) if known else timedelta(hours=3))

    topic, key, headers, body = processor(caches)._recorded(state, checkin, now)

    resident, course = caches.residents.get("PH001"), caches.courses.get("c1")
    expected = ev.AttendanceRecorded(
        attendance_id=str(state.attendance_id),
        checkin_id=checkin.checkin_id,
        resident_id="PH001",
        session_id="s1",
        course_id="c1",
        venue_id="v1",
        community_id="pinghu",
        resident_community_id=resident and resident.community_id,
        audience_group=resident and resident.audience_group,
        theme=course and course.theme,
        provider_kind=course and course.provider_kind,
        minutes=state.minutes,
        scanned_at=at,
        session_starts_at=SESSION.starts_at,
        late_sync=now - at > timedelta(minutes=15),
        walk_in=True,
    )
    envelope = envelop(expected, source=SOURCE, event_id=model.recorded_event_id("PH001", "s1"), time=now)
    assert body == envelope.body()  # byte for byte: same field order and JSON forms
    assert topic == envelope.topic == "activities.attendance"
    assert key == envelope.key
    assert {k: v.decode() for k, v in headers} == envelope.headers()
    assert expected.late_sync is (not known)  # both forms of the flag are covered


def test_other_events_carry_the_envelope_headers_and_body():
    data = ev.AttendanceAdjusted(attendance_id=str(uuid.uuid4()), resident_id="PH001", session_id="s1",
                                 community_id="pinghu", minutes=42)  # fmt: skip
    event_id, at = uuid.uuid4(), datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    envelope = envelop(data, source=SOURCE, event_id=event_id, time=at)
    topic, key, headers, body = _event(data, event_id, at)
    assert (topic, key, body) == (envelope.topic, envelope.key, envelope.body())
    assert {k: v.decode() for k, v in headers} == envelope.headers()


def test_outbox_row_decodes_to_the_same_records():
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    adjusted = [
        ev.AttendanceAdjusted(
            attendance_id=str(uuid.uuid4()), resident_id=f"PH{i:03}", session_id="s1", community_id="pinghu", minutes=i
        )
        for i in range(3)
    ]
    rejected = ev.AttendanceRejected(
        checkin_id=uuid.uuid4(), kiosk_id="k1", venue_id="v1", resident_id="居民-1", scanned_at=at,
        reason="unknown_kiosk", detail='kiosk "k1" 未登记',
    )  # fmt: skip
    events = [_event(data, uuid.uuid4(), at) for data in [*adjusted, rejected]]

    decoded = codec.unpack(codec.pack(events))

    assert len(decoded) == len(events)
    for (t1, k1, h1, b1), (t2, k2, h2, b2) in zip(events, decoded, strict=True):
        assert (t1, k1) == (t2, k2)
        assert dict(h1) == dict(h2)
        assert orjson.loads(b1) == orjson.loads(b2)


def test_outbox_row_is_compact():
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    data = ev.AttendanceAdjusted(attendance_id=str(uuid.uuid4()), resident_id="PH001", session_id="s1",
                                 community_id="pinghu", minutes=1)  # fmt: skip
    one = _event(data, uuid.uuid4(), at)
    raw = codec.pack([one])
    # The constant headers are not stored per event; the body is embedded, not escaped.
    assert b"ce_specversion" not in raw and b"content-type" not in raw and b"ce_subject" not in raw
    assert one[3] in raw


@pytest.mark.parametrize("resident", ["PH001", "居民-7", "", "x" * 300, "a\x1fb"])
def test_fast_uuid5_ids_are_the_stdlib_uuid5(resident):
    for session in ("s1", "会话-2", ""):
        a, r = model.attendance_id(resident, session), model.recorded_event_id(resident, session)
        assert a == uuid.uuid5(model.ATTENDANCE_NS, f"{resident}\x1f{session}")
        assert r == uuid.uuid5(model.EVENT_NS, f"attendance.recorded\x1f{resident}\x1f{session}")
        assert str(a) == str(uuid.uuid5(model.ATTENDANCE_NS, f"{resident}\x1f{session}"))
        assert (a.version, a.variant, hash(r)) == (5, uuid.RFC_4122, hash(uuid.UUID(str(r))))
        assert {a: 1}[uuid.UUID(str(a))] == 1 and a.bytes == uuid.UUID(str(a)).bytes
