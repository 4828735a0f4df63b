"""The search behind `learnstreet privacy find-in-topics` (shared/privacy_topics.py): every place a
resident's card, phone or e-mail can sit in a record is found, nothing else is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.privacy_topics import Needle, findings_in, needles_of, places_holding

CARD, PHONE, EMAIL = "r-000123", "+8613912345678", "li.ming@example.org"


def record(key: bytes | None = None, value: bytes | None = None, headers=()):
    return SimpleNamespace(key=key, value=value, headers=list(headers))


def test_the_needle_is_found_in_the_key_the_value_and_the_headers():
    needle = Needle(CARD.encode())
    assert places_holding(needle, CARD.encode(), b'{"resident_id":"r-000123"}', [("resident", CARD.encode())]) == [
        "key",
        "value",
        "headers",
    ]
    assert places_holding(needle, b"r-000124", b'{"resident_id":"r-000124"}', []) == []
    assert places_holding(needle, None, None, [("k", None)]) == []  # a tombstone of another key
    assert places_holding(needle, None, None, [("r-000123", b"")]) == ["headers"]  # a header's name


def test_a_json_value_holding_the_phone_in_any_field_counts():
    needles = needles_of(CARD, PHONE, EMAIL)
    records = [
        record(CARD.encode(), f'{{"phone":"{PHONE}","email":"{EMAIL}"}}'.encode()),
        record(CARD.encode(), None),  # the tombstone: the card is its key
        record(b"r-999", f'{{"text":"call {PHONE} before 10"}}'.encode()),
        record(b"r-999", b'{"phone":"+8613900000000"}'),
    ]
    found = findings_in("enrolment.contacts", records, needles)
    assert found.records == 4
    assert dict(found.found["card"]) == {"key": 2}
    assert dict(found.found["phone"]) == {"value": 2}
    assert dict(found.found["email"]) == {"value": 1}
    assert found.holding("card") == 2 and found.holding("phone") == 2
    assert found.as_json()["found"]["email"] == {"value": 1}


def test_records_without_the_resident_leave_the_findings_empty():
    found = findings_in("activities.attendance", [record(b"r-1", b"{}")] * 3, needles_of(CARD))
    assert found.records == 3 and found.found == {} and found.holding("card") == 0


@pytest.mark.parametrize(("card", "phone", "reason"), [("r-1", None, "card"), (CARD, "1234", "phone")])
def test_a_needle_too_short_to_mean_anything_is_refused(card, phone, reason):
    with pytest.raises(ValueError, match=f"^{reason} .* too short"):
        needles_of(card, phone)


def test_the_command_refuses_a_too_short_id_in_one_line_before_reading_kafka():
    result = CliRunner().invoke(app, ["privacy", "find-in-topics", "r-1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: card 'r-1' is too short to search for (6 characters or more)"]


def test_a_card_inside_a_longer_card_is_another_resident_and_not_found():
    """Before: a byte search found r-000123 in every record of r-0001234 (and of xr-000123), so after
    an erasure the officer's table showed another resident's records as still holding the erased one."""
    needle = needles_of(CARD)["card"]
    for other in (b"r-0001234", b"r-000123a", b"xr-000123", b"Ar-000123"):
        assert places_holding(needle, other, b'{"resident_id":"' + other + b'"}', [("resident", other)]) == []


@pytest.mark.parametrize(
    "holder",
    [
        b'"r-000123"',
        b"r-000123",
        b"enrol:r-000123:s-1",
        b"r-000123-s-1",
        b"erased r-000123.",
        "卡号r-000123。".encode(),
    ],
)
def test_a_card_written_inside_a_composite_or_a_sentence_is_found(holder):
    assert places_holding(needles_of(CARD)["card"], holder, holder, [("x", holder)]) == ["key", "value", "headers"]


def test_a_phone_is_found_with_its_country_code_and_inside_text_an_email_in_any_case():
    needles = needles_of(CARD, "13912345678", EMAIL)
    assert places_holding(needles["phone"], None, b'{"phone":"+8613912345678"}', []) == ["value"]
    assert places_holding(needles["phone"], None, "电话13912345678".encode(), []) == ["value"]
    assert places_holding(needles["email"], None, b'{"email":"Li.Ming@Example.ORG"}', []) == ["value"]
    assert places_holding(needles["email"], None, b'{"email":"xli.ming@example.org"}', []) == []
