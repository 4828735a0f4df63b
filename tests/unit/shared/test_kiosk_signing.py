"""The canonical form of a signed check-in (contract v2, shared/kiosk_signing.py) and the rules
that accept or refuse a signature (services/activities/domain/signing.py)."""

from __future__ import annotations

import base64
import subprocess
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from services.activities.domain.signing import KioskKey, refusal
from shared.events.catalogue import KioskCheckin
from shared.kiosk_signing import (
    Unsignable,
    Verifier,
    canonical,
    canonical_of,
    decode_signature,
    key_id,
    public_bytes,
    sign,
    signature_headers,
)

CHECKIN = {
    "checkin_id": "0B6F3E0C-7C1E-4B7E-9D55-2F1A2B3C4D5E",
    "kiosk_id": "pinghu-lib-kiosk-1",
    "venue_id": "pinghu-library",
    "resident_id": "PH00012345",
    "session_id": None,
    "scanned_at": "2026-05-01T19:02:11+08:00",
    "direction": "in",
}
EXPECTED = (
    b"learnstreet.kiosk.checkin.v2\n"
    b"0b6f3e0c-7c1e-4b7e-9d55-2f1a2b3c4d5e\n"
    b"pinghu-lib-kiosk-1\n"
    b"pinghu-library\n"
    b"PH00012345\n"
    b"\n"
    b"1777633331000000\n"
    b"in"
)


def checkin(**changes) -> KioskCheckin:
    return KioskCheckin.model_validate({**CHECKIN, **changes})


def test_canonical_form_is_the_documented_eight_lines() -> None:
    assert canonical_of(checkin()) == EXPECTED


def test_the_contract_document_shows_the_same_bytes() -> None:
    # docs/kiosk-checkin-contract.md spells this example out for kiosk implementers
    doc = (Path(__file__).resolve().parents[3] / "docs" / "kiosk-checkin-contract.md").read_text()
    assert "\n" + EXPECTED.decode() + "\n" in doc


def test_scanned_at_is_an_instant_whatever_offset_the_kiosk_wrote() -> None:
    utc = checkin(scanned_at="2026-05-01T11:02:11Z")
    assert canonical_of(utc) == canonical_of(checkin())
    later = checkin(scanned_at="2026-05-01T19:02:11.000001+08:00")
    assert canonical_of(later) == EXPECTED.replace(b"1777633331000000", b"1777633331000001")


def test_every_signed_field_changes_the_form() -> None:
    base = canonical_of(checkin())
    for change in (
        {"checkin_id": str(uuid.uuid4())},
        {"kiosk_id": "pinghu-lib-kiosk-2"},
        {"venue_id": "other-venue"},
        {"resident_id": "PH00099999"},
        {"session_id": "s-1"},
        {"scanned_at": "2026-05-01T19:02:12+08:00"},
        {"direction": "out"},
    ):
        assert canonical_of(checkin(**change)) != base, change


def test_a_line_feed_in_a_field_cannot_be_signed() -> None:
    # "a\nb" as kiosk and "c" as venue would otherwise sign the same bytes as "a" and "b\nc"
    with pytest.raises(Unsignable):
        canonical(**{**checkin().model_dump(), "kiosk_id": "a\nb"})


def test_a_time_without_offset_cannot_be_signed() -> None:
    with pytest.raises(Unsignable):
        canonical(**{**checkin().model_dump(), "scanned_at": datetime(2026, 5, 1, 11, 2, 11)})


def test_epoch_micros_has_no_float_rounding() -> None:
    at = datetime(2286, 11, 20, 17, 46, 39, 999999, tzinfo=UTC)
    assert canonical(**{**checkin().model_dump(), "scanned_at": at}).endswith(b"\n9999999999999999\nin")


def test_key_id_is_the_hex_of_the_first_16_bytes_of_sha256() -> None:
    raw = bytes(range(32))
    assert key_id(raw) == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"[:32]


def test_openssl_signs_the_same_bytes(tmp_path) -> None:
    # the shell recipe in the contract: openssl pkeyutl -sign -rawin over the canonical form
    private = Ed25519PrivateKey.generate()
    pem = tmp_path / "kiosk.pem"
    pem.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    msg = tmp_path / "msg"
    msg.write_bytes(EXPECTED)
    out = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(pem), "-in", str(msg)], capture_output=True, check=True
    ).stdout
    assert out == base64.b64decode(sign(private, checkin())["ls-signature"])  # Ed25519 is deterministic


def test_signature_headers_from_kafka_and_http() -> None:
    private = Ed25519PrivateKey.generate()
    headers = sign(private, checkin())
    kafka = [(k, v.encode()) for k, v in headers.items()]
    sig, kid = signature_headers(kafka)
    assert len(sig) == 64 and kid == key_id(public_bytes(private))
    assert signature_headers({"LS-Signature": headers["ls-signature"]})[0] == sig
    assert signature_headers([("content-type", b"application/json")]) == (None, None)
    assert signature_headers([("ls-signature", b"not base64!")]) == (b"", None)  # present, broken
    url_safe = base64.urlsafe_b64encode(sig).rstrip(b"=")
    assert decode_signature(url_safe) == sig
    assert decode_signature(base64.b64encode(b"x" * 63)) is None


# --- the rules --------------------------------------------------------------------------------
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
A = Ed25519PrivateKey.generate()
B = Ed25519PrivateKey.generate()
KEY_A = KioskKey(key_id(public_bytes(A)), "pinghu-lib-kiosk-1", public_bytes(A))
KEY_B = KioskKey(key_id(public_bytes(B)), "pinghu-lib-kiosk-2", public_bytes(B))


def judge(c, headers, keys, until=None, now=NOW, verifier=None):
    sig, kid = signature_headers(headers)
    return refusal(c, sig, kid, keys, until, now, (verifier or Verifier()).verify)


def test_a_good_signature_is_accepted() -> None:
    c = checkin()
    assert judge(c, sign(A, c), [KEY_A]) is None


def test_a_kiosk_signing_in_another_kiosks_name_is_refused() -> None:
    # kiosk 2 claims kiosk 1's id and signs with its own key: its key is not kiosk 1's
    c = checkin()
    assert "is not an active key of kiosk pinghu-lib-kiosk-1" in judge(c, sign(B, c), [KEY_A])
    # and without naming its key, no key of kiosk 1 verifies it
    only_sig = {"ls-signature": sign(B, c)["ls-signature"]}
    assert "does not match" in judge(c, only_sig, [KEY_A])


def test_a_tampered_resident_is_refused() -> None:
    signed = sign(A, checkin())
    assert "does not match" in judge(checkin(resident_id="PH00099999"), signed, [KEY_A])


def test_a_signature_of_a_kiosk_without_key_is_refused() -> None:
    c = checkin()
    assert judge(c, sign(A, c), []) == "key " + KEY_A.key_id + " is not an active key of kiosk pinghu-lib-kiosk-1"


def test_unsigned_is_accepted_in_the_window_and_refused_after_it() -> None:
    c = checkin()
    assert judge(c, {}, [], until=None) is None
    assert judge(c, {}, [], until=NOW + timedelta(seconds=1)) is None
    assert "refuses unsigned check-ins since" in judge(c, {}, [], until=NOW)


def test_unsigned_is_refused_once_the_kiosk_has_a_key_even_in_the_window() -> None:
    # otherwise a forger would simply drop the signature
    assert "must be signed" in judge(checkin(), {}, [KEY_A], until=NOW + timedelta(days=30))


def test_a_malformed_signature_is_not_taken_for_unsigned() -> None:
    assert "not a base64 Ed25519 signature" in judge(checkin(), {"ls-signature": "garbage"}, [], until=None)


def test_a_rotation_accepts_either_active_key() -> None:
    c = checkin()
    new = Ed25519PrivateKey.generate()
    key_new = KioskKey(key_id(public_bytes(new)), c.kiosk_id, public_bytes(new))
    assert judge(c, sign(A, c), [KEY_A, key_new]) is None
    assert judge(c, sign(new, c), [KEY_A, key_new]) is None


def test_a_replay_is_not_verified_twice() -> None:
    verifier = Verifier()
    c = checkin()
    headers = sign(A, c)
    assert judge(c, headers, [KEY_A], verifier=verifier) is None
    assert judge(c, headers, [KEY_A], verifier=verifier) is None
    assert verifier.verified == 1


def test_any_offset_in_scanned_at_verifies() -> None:
    c = checkin()
    headers = sign(A, c)
    other_spelling = checkin(scanned_at=c.scanned_at.astimezone(timezone(timedelta(hours=-5))).isoformat())
    assert judge(other_spelling, headers, [KEY_A]) is None
