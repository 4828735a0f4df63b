from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.http.auth import Operator, mint_token

SECRET = "unit-test-secret-long-enough-for-hs256-keys"


def _app() -> FastAPI:
    app = FastAPI()
    app.state.jwt_secret = SECRET

    @app.get("/op")
    def op(principal: Operator) -> dict:
        return {"sub": principal.subject}

    return app


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer garbage", 401),
        (f"Bearer {mint_token(SECRET, subject='u', role='operator', ttl_s=-10)}", 401),  # expired
        (
            f"Bearer {mint_token('another-secret-also-long-enough-for-hs256', subject='u', role='operator')}",
            401,
        ),  # forged
        (f"Bearer {mint_token(SECRET, subject='r1', role='resident')}", 403),
        (f"Bearer {mint_token(SECRET, subject='op7', role='operator')}", 200),
    ],
)
def test_operator_endpoint_checks_token_signature_expiry_and_role(header, status):
    client = TestClient(_app())
    response = client.get("/op", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"sub": "op7"}


def test_unknown_role_cannot_be_minted():
    with pytest.raises(ValueError):
        mint_token(SECRET, subject="x", role="superuser")


def test_a_verified_token_is_remembered_only_under_its_secret():
    token = f"Bearer {mint_token(SECRET, subject='op7', role='operator')}"
    assert TestClient(_app()).get("/op", headers={"Authorization": token}).status_code == 200
    other = _app()
    other.state.jwt_secret = "another-secret-also-long-enough-for-hs256"
    assert TestClient(other).get("/op", headers={"Authorization": token}).status_code == 401
