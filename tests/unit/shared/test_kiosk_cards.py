"""Kiosk cards travel as keyed digests (shared/kiosk_cards.py, ADR 10 amendment 2026-12-07)."""

from __future__ import annotations

import re

from shared.kiosk_cards import CardDigests

SECRET = "a-street-secret-of-at-least-32-characters!!"


def test_a_digest_is_the_same_for_both_services_and_says_nothing_of_the_card():
    card = "440307199001011234"
    enrolment, activities = CardDigests.for_street(SECRET), CardDigests.for_street(SECRET)
    digest = enrolment.of(card)
    assert digest == activities.of(card) and re.fullmatch(r"[0-9a-f]{64}", digest)
    assert card not in digest and card[:6] not in digest
    assert enrolment.of("440307199001011235") != digest


def test_another_street_s_secret_gives_another_digest():
    card = "440307199001011234"
    assert CardDigests.for_street(SECRET).of(card) != CardDigests.for_street(SECRET + "x").of(card)
