"""The resident sign-in issuer beside the main check (shared/http/auth.py): its tokens, verified from
its discovery document and JWKS served over HTTP here, make residents and never anything else."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.enrolment.adapters.resident_tokens import ResidentTokenSigner
from shared.http.auth import Operator, Principal, ResidentOnly, install_auth, mint_token
from tests.unit.shared.json_server import JsonServer

SECRET = secrets.token_urlsafe(32)
AUDIENCES = ("learnstreet-activities", "learnstreet-enrolment", "learnstreet-scoring", "learnstreet-notify")


class Issuer:
    def __init__(self) -> None:
        self.http = JsonServer(self._answer)
        self.server = self.http.server
        self.url = self.http.url
        self.signer = ResidentTokenSigner(ec.generate_private_key(ec.SECP256R1()), self.url, AUDIENCES)

    def _answer(self, path: str) -> tuple[int, Any]:
        if path == "/.well-known/openid-configuration":
            return 200, self.signer.discovery(f"{self.url}/v1/sign-in/jwks.json")
        if path == "/v1/sign-in/jwks.json":
            return 200, self.signer.jwks()
        return 404, None


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    yield i
    i.server.shutdown()


def _client(issuer: Issuer, service: str = "scoring", **extra: str) -> TestClient:
    app = FastAPI()
    install_auth(app, service=service, jwt_secret=SECRET, environ={"LS_RESIDENT_ISSUER": issuer.url, **extra})

    @app.get("/mine")
    async def mine(p: ResidentOnly) -> dict:
        return {"subject": p.subject, "role": p.role, "roles": sorted(p.roles)}

    @app.get("/operators")
    async def operators(p: Operator) -> dict:
        return {"subject": p.subject}

    return TestClient(app)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _forge(issuer: Issuer, **claims) -> str:
    now = int(time.time())
    base = {"iss": issuer.url, "aud": list(AUDIENCES), "sub": "R1", "learnstreet_id": "R1", "roles": ["resident"]}
    base |= {"iat": now, "exp": now + 300}
    base.update(claims)
    return jwt.encode(base, issuer.signer._key, algorithm="ES256", headers={"kid": issuer.signer.kid})


def test_a_sign_in_token_is_a_resident_on_any_service_that_trusts_the_issuer(issuer):
    token = issuer.signer.sign("R1", 900)
    for service in ("scoring", "enrolment", "activities"):
        answer = _client(issuer, service).get("/mine", headers=_bearer(token))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"subject": "R1", "role": "resident", "roles": ["resident"]}


def test_a_sign_in_token_is_refused_on_operator_routes(issuer):
    answer = _client(issuer).get("/operators", headers=_bearer(issuer.signer.sign("R1", 900)))
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "roles", [["operator"], ["resident", "operator"], ["assessor"], [], "resident operator"], ids=repr
)
def test_a_token_of_the_issuer_claiming_another_role_is_refused(issuer, roles):
    client = _client(issuer)
    for path in ("/operators", "/mine"):
        answer = client.get(path, headers=_bearer(_forge(issuer, roles=roles)))
        assert answer.status_code == 401, (path, answer.text)
        assert "resident role only" in answer.json()["detail"]


def test_the_subject_must_be_the_resident_it_names(issuer):
    answer = _client(issuer).get("/mine", headers=_bearer(_forge(issuer, learnstreet_id="R2")))
    assert answer.status_code == 401


def test_a_token_for_other_audiences_or_expired_or_signed_by_another_key_is_refused(issuer):
    client = _client(issuer)
    assert client.get("/mine", headers=_bearer(_forge(issuer, aud=["learnstreet-notify"]))).status_code == 401
    assert client.get("/mine", headers=_bearer(_forge(issuer, exp=int(time.time()) - 120))).status_code == 401
    other = ResidentTokenSigner(ec.generate_private_key(ec.SECP256R1()), issuer.url, AUDIENCES)
    forged = jwt.encode(
        {"iss": issuer.url, "aud": list(AUDIENCES), "sub": "R1", "learnstreet_id": "R1", "roles": ["resident"],
         "exp": int(time.time()) + 300},
        other._key, algorithm="ES256", headers={"kid": issuer.signer.kid},
    )  # fmt: skip
    assert client.get("/mine", headers=_bearer(forged)).status_code == 401


def test_an_hs256_token_naming_the_issuer_is_refused_and_the_main_check_still_works(issuer):
    client = _client(issuer)
    fake = jwt.encode(
        {"iss": issuer.url, "sub": "R1", "role": "operator", "exp": int(time.time()) + 300}, SECRET, algorithm="HS256"
    )
    assert client.get("/operators", headers=_bearer(fake)).status_code == 401
    operator = mint_token(SECRET, subject="op-1", role="operator")
    assert client.get("/operators", headers=_bearer(operator)).status_code == 200


def test_without_the_setting_the_issuer_is_not_trusted(issuer):
    app = FastAPI()
    install_auth(app, service="scoring", jwt_secret=SECRET, environ={})

    @app.get("/mine")
    async def mine(p: ResidentOnly) -> Principal:
        return p

    assert TestClient(app).get("/mine", headers=_bearer(issuer.signer.sign("R1", 900))).status_code == 401


def test_the_resident_issuer_cannot_be_the_main_identity_provider(issuer):
    with pytest.raises(ValueError, match="LS_RESIDENT_ISSUER"):
        install_auth(
            FastAPI(), service="scoring", jwt_secret=None,
            environ={"LS_OIDC_ISSUER": issuer.url, "LS_RESIDENT_ISSUER": issuer.url + "/"},
        )  # fmt: skip
