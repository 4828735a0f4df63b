"""Set-up of residents' sign-in: the key file set-up makes, and what enrolment builds from its settings."""

from __future__ import annotations

import stat

import jwt
import pytest

from deploy.local import credentials
from services.enrolment.bootstrap import sign_in_deps
from services.enrolment.config import EnrolmentSettings

BASE = dict(
    service="enrolment", kafka_username="enrolment", kafka_password="x", database_url="postgresql://x",
    http_port=8102, LS_JWT_SECRET="test-only-hs256-key-0123456789abcdefgh",
)  # fmt: skip


def settings(**kw) -> EnrolmentSettings:
    return EnrolmentSettings.model_validate({**BASE, **kw})


def test_set_up_makes_a_private_p256_key_once(tmp_path):
    path = tmp_path / "keys" / "resident-sign-in.pem"
    assert credentials.ensure_sign_in_key(path) is True
    first = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and b"PRIVATE KEY" in first
    assert credentials.ensure_sign_in_key(path) is False and path.read_bytes() == first


def test_enrolment_signs_for_the_configured_issuer_and_every_service(tmp_path):
    path = tmp_path / "k.pem"
    credentials.ensure_sign_in_key(path)
    deps = sign_in_deps(settings(sign_in_key_file=str(path), LS_RESIDENT_ISSUER="https://learn.pinghu.example/"))
    assert deps.signer is not None
    claims = jwt.decode(deps.signer.sign("R1", 900), options={"verify_signature": False})
    assert claims["iss"] == "https://learn.pinghu.example" and claims["sub"] == claims["learnstreet_id"] == "R1"
    assert claims["roles"] == ["resident"] and claims["exp"] - claims["iat"] == 900
    assert set(claims["aud"]) == {f"learnstreet-{s}" for s in ("activities", "enrolment", "scoring", "notify")}
    assert deps.signer.jwks()["keys"][0]["kid"] == jwt.get_unverified_header(deps.signer.sign("R1", 9))["kid"]


def test_without_a_key_file_sign_in_is_off():
    assert sign_in_deps(settings()).signer is None


def test_a_placeholder_hash_key_stops_the_start():
    with pytest.raises(ValueError, match="ENROLMENT_SIGN_IN_SECRET"):
        sign_in_deps(settings(sign_in_secret="change-me-at-least-32-characters-long"))
