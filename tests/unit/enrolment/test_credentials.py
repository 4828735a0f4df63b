"""Verifiable honours without Kafka or PostgreSQL: an honour issued as an Open Badges 3.0
credential is valid against our schema of the Open Badges 3.0 data model (tests/openbadges_schema.py), signs and
verifies as a VC-JWT from a JWKS, and fails verification for the reason it fails: altered, signed
by an unpublished key, expired, not the street's, malformed, or revoked in the Bitstring Status
List, whose encoding is the spec's."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import jsonschema
import jwt
import pytest

from services.enrolment.domain import credentials as domain
from shared import credentials as vc
from shared.reference import load_reference
from tests.openbadges_schema import OPEN_BADGE_CREDENTIAL

SCHEMA = OPEN_BADGE_CREDENTIAL
NOW = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
ISSUER = domain.Issuer("https://learn.pinghu.example", load_reference())
KEY = vc.new_signing_key()
SUBJECT_KEY = b"k" * 32


def issue(
    *, key: vc.SigningKey = KEY, kind: str = "learning_star", index: int = 7, valid_until: datetime | None = None
) -> str:
    honour = domain.Honour("h-1", kind, "2026", "resident", NOW - timedelta(days=3))
    payload = domain.open_badge(
        ISSUER, honour, credential_id="urn:uuid:6f1d0c3e-0000-4000-8000-000000000001",
        subject=domain.subject_id(SUBJECT_KEY, "r-alice"), list_id="1", index=index, valid_until=valid_until,
    )  # fmt: skip
    return vc.sign(payload, key)


def jwks(*keys: vc.SigningKey) -> dict:
    return {"keys": [k.public_jwk for k in keys]}


def status_list(revoked: list[int], *, key: vc.SigningKey = KEY, list_id: str = "1") -> str:
    return vc.sign(domain.status_list_credential(ISSUER, list_id, revoked, NOW), key)


def verify(token: str, keys: dict | None = None, status: str | None = "default", now: datetime = NOW) -> dict:
    keys = keys or jwks(KEY)
    checked = None
    try:
        checked = vc.check_credential(token, keys, ISSUER.id, now)
        vc.check_status(checked, status_list([]) if status == "default" else status, keys, ISSUER.id, now)
    except vc.CredentialFailure as failure:
        return vc.verdict(failure, checked)
    return vc.verdict(None, checked)


def payload_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_an_issued_credential_is_a_valid_open_badge_3_0_credential():
    credential = payload_of(issue())
    validator = jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    assert not sorted(validator.iter_errors(credential), key=str)
    # the guard can fail: the same credential without its achievement's criteria is refused
    broken = json.loads(json.dumps(credential))
    del broken["credentialSubject"]["achievement"]["criteria"]
    assert not validator.is_valid(broken)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["type"] == ["Achievement"]
    assert "百姓学习之星" in achievement["name"] and "Learning Star of the People" in achievement["name"]
    assert achievement["criteria"]["narrative"] and achievement["description"]
    assert credential["issuer"]["type"] == ["Profile"] and "平湖街道" in credential["issuer"]["name"]
    assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert (
        credential["credentialStatus"]["statusListCredential"] == "https://learn.pinghu.example/v1/credentials/status/1"
    )
    header = jwt.get_unverified_header(issue())
    assert header == {"alg": "ES256", "typ": "vc+jwt", "kid": KEY.kid}


def test_the_subject_is_a_pseudonym_without_contact_data_or_resident_id():
    credential = payload_of(issue())
    subject = credential["credentialSubject"]["id"]
    assert subject.startswith("urn:uuid:") and "alice" not in json.dumps(credential)
    assert subject == domain.subject_id(SUBJECT_KEY, "r-alice")  # one pseudonym per resident
    assert subject != domain.subject_id(SUBJECT_KEY, "r-bob")
    assert subject != domain.subject_id(b"another street's key", "r-alice")


def test_a_credential_verifies_from_the_key_set_and_the_status_list():
    result = verify(issue())
    assert result["valid"] is True and result["reason"] is None and result["kid"] == KEY.kid
    assert "Learning Star of the People" in result["credential"]["achievement"]


def test_a_tampered_credential_fails_for_its_signature():
    header, payload, signature = issue().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["achievement"]["name"] = "Knowledge Competition Prize"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    result = verify(f"{header}.{forged}.{signature}")
    assert (result["valid"], result["reason"]) == (False, "bad_signature")
    assert "altered" in result["detail"]


def test_a_credential_signed_by_a_key_the_street_does_not_publish_fails_for_its_kid():
    stranger = vc.new_signing_key()
    result = verify(issue(key=stranger))
    assert (result["valid"], result["reason"]) == (False, "unknown_kid")
    assert stranger.kid in result["detail"]


def test_a_revoked_credential_fails_as_revoked():
    result = verify(issue(index=7), status=status_list([3, 7]))
    assert (result["valid"], result["reason"]) == (False, "revoked")
    assert result["credential"]["id"]  # says which credential it was
    assert verify(issue(index=8), status=status_list([3, 7]))["valid"] is True


def test_an_expired_credential_fails_as_expired():
    result = verify(issue(valid_until=NOW - timedelta(seconds=1)))
    assert (result["valid"], result["reason"]) == (False, "expired")
    assert verify(issue(valid_until=NOW + timedelta(days=1)))["valid"] is True


def test_a_credential_of_another_issuer_fails_as_such():
    other = domain.Issuer("https://evil.example", ISSUER.reference)
    honour = domain.Honour("h-1", "learning_star", "2026", "resident", NOW - timedelta(days=1))
    token = vc.sign(domain.open_badge(other, honour, credential_id="urn:uuid:x", subject="urn:uuid:y", list_id="1",
                                      index=1), KEY)  # fmt: skip
    assert verify(token)["reason"] == "wrong_issuer"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a credential",
        "a.b.c",
        jwt.encode({"vc": 1}, "secret-of-32-bytes-at-least-0000", algorithm="HS256", headers={"typ": "vc+jwt"}),
        jwt.encode({"a": 1}, KEY.private_key, algorithm="ES256", headers={"typ": "JWT", "kid": KEY.kid}),
        jwt.encode({"a": 1}, KEY.private_key, algorithm="ES256", headers={"typ": "vc+jwt", "kid": KEY.kid}),
    ],
    ids=["empty", "text", "garbage", "hs256", "typ-jwt", "not-a-badge"],
)
def test_a_malformed_credential_fails_as_malformed(token):
    result = verify(token)
    assert (result["valid"], result["reason"]) == (False, "malformed"), result


def test_after_a_key_rotation_the_new_key_signs_and_the_old_credentials_still_verify():
    newer = vc.new_signing_key()
    both = jwks(newer, KEY)
    assert verify(issue(key=KEY), keys=both, status=status_list([], key=newer))["valid"] is True
    assert verify(issue(key=newer), keys=both, status=status_list([], key=newer))["valid"] is True


def test_a_status_list_not_signed_by_the_street_is_not_trusted():
    forged = status_list([], key=vc.new_signing_key())
    assert verify(issue(), status=forged)["reason"] == "status_unavailable"
    assert verify(issue(), status=None)["reason"] == "status_unavailable"
    assert verify(issue(), status=status_list([], list_id="2"))["reason"] == "status_unavailable"


def test_the_status_list_is_gzip_base64url_multibase_left_bit_first_and_at_least_16_kib():
    encoded = vc.encode_status_list([0, 9, vc.STATUS_LIST_BITS - 1])
    assert encoded.startswith("u") and "=" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) == 16 * 1024
    assert raw[0] == 0b1000_0000 and raw[1] == 0b0100_0000 and raw[-1] == 0b0000_0001
    assert sum(bin(b).count("1") for b in raw) == 3
    bits = vc.decode_status_list(encoded)
    assert [i for i in (0, 1, 8, 9, vc.STATUS_LIST_BITS - 1) if vc.bit_at(bits, i)] == [0, 9, vc.STATUS_LIST_BITS - 1]
    with pytest.raises(ValueError):
        vc.encode_status_list([], size=1024)


def test_a_status_list_that_inflates_beyond_the_limit_is_refused():
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(vc.MAX_STATUS_LIST_BYTES + 1))).rstrip(b"=").decode()
    with pytest.raises(vc.CredentialFailure) as refused:
        vc.decode_status_list(bomb)
    assert refused.value.reason == "status_unavailable"


def test_status_positions_never_collide_and_fill_one_list_before_the_next():
    first = [domain.status_position(n) for n in range(vc.STATUS_LIST_BITS)]
    assert {list_id for list_id, _ in first} == {"1"}
    assert len({index for _, index in first}) == vc.STATUS_LIST_BITS  # a bijection onto the list
    assert [index for _, index in first[:3]] != [0, 1, 2]  # issue order is not readable from indexes
    assert domain.status_position(vc.STATUS_LIST_BITS) == ("2", 0)


def test_a_signing_key_is_stored_encrypted_and_opens_only_with_its_passphrase():
    pem = vc.private_pem(KEY, b"right")
    assert "ENCRYPTED PRIVATE KEY" in pem
    assert vc.load_signing_key(pem, b"right").kid == KEY.kid
    with pytest.raises(ValueError):
        vc.load_signing_key(pem, b"wrong")


def test_an_unknown_honour_kind_still_makes_a_schema_valid_credential():
    credential = payload_of(issue(kind="knowledge_competition:quiz-2026"))
    assert jsonschema.Draft201909Validator(SCHEMA).is_valid(credential)
    assert "知识竞赛获奖" in credential["credentialSubject"]["achievement"]["name"]


def test_dates_are_rfc3339_utc_which_the_schema_format_check_cannot_see_here():
    # jsonschema checks `date-time` only with rfc3339-validator installed (it is not): checked here
    credential = payload_of(issue())
    for name in ("validFrom", "awardedDate"):
        value = credential[name]
        assert value.endswith("Z") and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    assert credential["nbf"] == int(datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00")).timestamp())


def test_every_instance_names_the_first_instance_as_issuer_unless_an_address_is_set():
    from types import SimpleNamespace

    from services.enrolment.bootstrap import issuer_base_url

    second = SimpleNamespace(credentials_base_url=None, http_host="127.0.0.1", http_port=8112)
    assert issuer_base_url(second, "enrolment-2") == "http://127.0.0.1:8102"
    first = SimpleNamespace(credentials_base_url=None, http_host="127.0.0.1", http_port=8102)
    assert issuer_base_url(first, None) == issuer_base_url(first, "enrolment") == "http://127.0.0.1:8102"
    public = SimpleNamespace(credentials_base_url="https://learn.pinghu.example/", http_host="0.0.0.0", http_port=8112)
    assert issuer_base_url(public, "enrolment-2") == "https://learn.pinghu.example"


def test_a_status_list_signed_a_moment_after_the_verifier_read_its_clock_still_counts():
    """The verify endpoint reads the clock, then makes the status list, dated when it is signed: on a
    busy machine a second ticks over in between. The demo saw a fresh credential fail as
    status_unavailable this way; a verifier allows the issuer's clock a little skew."""
    later = vc.sign(domain.status_list_credential(ISSUER, "1", [], NOW + timedelta(seconds=2)), KEY)
    assert verify(issue(), status=later)["valid"] is True
    much_later = vc.sign(domain.status_list_credential(ISSUER, "1", [], NOW + timedelta(hours=1)), KEY)
    assert verify(issue(), status=much_later)["reason"] == "status_unavailable"  # skew, not any future date


def test_a_credential_dated_in_the_future_beyond_the_skew_is_not_yet_valid():
    early = vc.sign(
        payload_of(issue()) | {"validFrom": "2026-12-05T05:00:00Z", "nbf": int(NOW.timestamp()) + 3600}, KEY
    )
    assert verify(early)["reason"] == "not_yet_valid"
