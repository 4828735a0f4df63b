"""Kiosk input that is well-formed JSON but wrong (issue 13): an internal event type on the public
topic, bodies built to cost CPU, a checkin_id reused for another scan, implausible scan times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from services.activities.domain import model
from services.activities.service_layer.checkins import decode_checkin
from shared.bus.decoding import DeadLetter
from shared.events import catalogue as ev

GOOD = {
    "checkin_id": str(uuid.uuid4()),
    "kiosk_id": "k1",
    "venue_id": "v1",
    "resident_id": "PH001",
    "scanned_at": "2026-05-01T19:02:11+08:00",
}


def record(value: bytes, headers=()) -> ConsumerRecord:
    return ConsumerRecord("kiosk.checkins", 0, 7, 0, 0, b"PH001", value, None, 0, len(value), list(headers))


# --- item 2: the kiosk topic carries kiosk check-ins only ----------------------------------------


@pytest.mark.parametrize(
    "type_name",
    ["learnstreet.activities.attendance.recorded.v1", "learnstreet.enrolment.resident.registered.v1", ""],
)
def test_a_record_typed_as_another_event_is_an_unexpected_type(type_name):
    with pytest.raises(DeadLetter) as caught:
        decode_checkin(
            record(orjson.dumps(GOOD), [("content-type", b"application/json"), ("ce_type", type_name.encode())])
        )
    assert caught.value.code == "unexpected_type"
    assert repr(type_name) in caught.value.detail


def test_other_headers_and_the_check_in_type_itself_are_accepted():
    headers = [("content-type", b"application/json"), ("traceparent", b"00-abc-def-01"), ("ce_type", b"kiosk.checkin")]
    assert str(decode_checkin(record(orjson.dumps(GOOD), headers)).event_id) == GOOD["checkin_id"]


# --- item 3: bodies built to cost CPU are refused before parsing ----------------------------------


HOSTILE = {
    "20k_unknown_keys": orjson.dumps({**GOOD, **{f"k{i:05d}": 1 for i in range(20_000)}}),
    "100k_element_array": orjson.dumps({**GOOD, "x": [1] * 100_000}),
    "deep_nesting": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_body_with_more_structure_than_the_contract_allows_is_refused_without_parsing(name, monkeypatch):
    value = HOSTILE[name]
    assert len(value) < 256 * 1024

    def parsed(*_a, **_k):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(ev.KioskCheckin, "model_validate_json", parsed)
    with pytest.raises(DeadLetter) as caught:
        decode_checkin(record(value))
    assert caught.value.code == "invalid_checkin"
    assert "(body): " in caught.value.detail and "structural characters" in caught.value.detail


def test_the_largest_valid_body_passes_the_pre_check():
    # Every free string at its 128-character limit, made of the characters the pre-check counts.
    worst = '",[{' * 32
    body = {**GOOD, "kiosk_id": worst, "venue_id": worst, "resident_id": worst, "session_id": worst}
    value = orjson.dumps({**body, "direction": "out"})
    rec = ConsumerRecord("kiosk.checkins", 0, 7, 0, 0, worst.encode(), value, None, 0, len(value), [])
    assert decode_checkin(rec).data.kiosk_id == worst


# --- item 1: a checkin_id names one scan -----------------------------------------------------------


def scan(**changes) -> ev.KioskCheckin:
    return ev.KioskCheckin.model_validate({**GOOD, "session_id": "s1", **changes})


def test_a_retry_of_the_same_scan_is_no_conflict():
    assert model.checkin_id_conflict(scan(), scan()) == []
    # The same instant written with another offset is the same scan.
    assert model.checkin_id_conflict(scan(), scan(scanned_at="2026-05-01T11:02:11+00:00")) == []
    # A kiosk that did not name the session, while the ledger holds the one the service picked.
    assert model.checkin_id_conflict(scan(), scan(session_id=None)) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kiosk_id": "k2"}, "kiosk_id"),
        ({"resident_id": "PH002"}, "resident_id"),
        ({"venue_id": "v2"}, "venue_id"),
        ({"session_id": "s2"}, "session_id"),
        ({"scanned_at": "2026-05-01T19:03:11+08:00"}, "scanned_at"),
        ({"direction": "out"}, "direction"),
    ],
)
def test_the_same_checkin_id_on_another_scan_is_a_conflict_naming_what_differs(change, field):
    assert model.checkin_id_conflict(scan(), scan(**change)) == [field]


# --- item 4: scan times must be plausible ----------------------------------------------------------


RECEIVED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "scanned_at",
    [RECEIVED + model.SCAN_CLOCK_SKEW + timedelta(seconds=1), RECEIVED - model.MAX_SYNC_DELAY - timedelta(seconds=1)],
    ids=["future", "too_old"],
)
def test_a_scan_dated_too_far_from_its_arrival_is_implausible(scanned_at):
    assert model.implausible_scan_time(scanned_at, RECEIVED) is not None


@pytest.mark.parametrize(
    "scanned_at",
    [RECEIVED + model.SCAN_CLOCK_SKEW, RECEIVED - model.MAX_SYNC_DELAY, RECEIVED - timedelta(days=33)],
    ids=["skewed_clock", "oldest_sync", "demo_history"],
)
def test_a_scan_within_the_skew_and_the_sync_delay_is_plausible(scanned_at):
    assert model.implausible_scan_time(scanned_at, RECEIVED) is None


def test_judge_rejects_an_implausible_scan_even_inside_a_session_window():
    at = RECEIVED - timedelta(days=365)
    session = model.Session("s1", "c1", "v1", "xinnan", at - timedelta(minutes=10), at + timedelta(hours=1), 30)
    verdict = model.judge(
        scan(scanned_at=at.isoformat()),
        kiosk_venue="v1",
        resident_known=True,
        session_by_id={"s1": session}.get,
        sessions_near=lambda _v, _t: [session],
        enrolled=lambda _s: True,
        waited=timedelta(0),
        grace=timedelta(minutes=10),
        received_at=RECEIVED,
    )
    assert (verdict.kind, verdict.reason) == ("reject", "implausible_scan_time")
