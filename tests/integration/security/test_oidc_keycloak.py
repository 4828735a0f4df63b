"""Tokens of the real identity provider (the local Keycloak, realm `learnstreet`) checked by the
services' own auth dependencies against its real JWKS.

These tests build the app in process (the real `install_auth` with `LS_OIDC_ISSUER` set, the real
activities router and a route on `CommunityStaff`) for what is refused before any storage, and call
the running activities service, which checks the same provider's tokens, for what is stored.
Keycloak is started through deploy/local/keycloak.py when it does not answer (about 70 s on a quiet
machine, several minutes on a busy one) and stopped again at the end of the session; one that
already runs (`make up`) is used as it is.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.activities.entrypoints.http import router as activities_router
from shared.http.auth import CommunityStaff, Operator, install_auth
from tests.integration.dashboard.oidc_stack import keycloak as running_keycloak
from tests.support import oidc_issuer, service_url, unique

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import keycloak as kc  # deploy/local/keycloak.py

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def keycloak() -> Iterator[dict[str, str]]:
    with running_keycloak() as creds:
        yield creds


def app_for(creds: dict[str, str], service: str = "activities") -> FastAPI:
    app = FastAPI()
    install_auth(app, service=service, jwt_secret=None, environ={"LS_OIDC_ISSUER": kc.issuer(creds)})
    app.include_router(activities_router)

    @app.get("/whoami")
    async def whoami(p: CommunityStaff) -> dict:
        return {"sub": p.subject, "role": p.role, "community_id": p.community_id}

    @app.get("/operators-only")
    async def operators_only(p: Operator) -> dict:
        return {"role": p.role, "roles": sorted(p.roles)}

    return app


def bearer(creds: dict[str, str], username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {kc.password_grant(creds, username)['access_token']}"}


def test_a_community_worker_signs_in_and_is_scoped_to_their_community(keycloak: dict[str, str]):
    with TestClient(app_for(keycloak)) as client:
        worker = bearer(keycloak, "demo-worker-bainikeng")
        me = client.get("/whoami", headers=worker)
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "community_worker" and me.json()["community_id"] == "bainikeng"
        # registering a venue in another community is refused with the reason, before touching anything
        refused = client.post("/v1/venues", json=venue_in("shanxia"), headers=worker)
        assert refused.status_code == 403, refused.text
        assert "you act for community bainikeng only" in refused.json()["detail"]
        other = client.get("/whoami", headers=bearer(keycloak, "demo-worker-shanxia"))
        assert other.json()["community_id"] == "shanxia"


def venue_in(community_id: str) -> dict:
    return {"venue_id": unique("v-oidc"), "community_id": community_id, "name_zh": "身份测试",
            "name_en": "OIDC test", "venue_type": "library", "capacity": 10}  # fmt: skip


def test_a_community_worker_registers_a_venue_in_their_community_only(keycloak: dict[str, str]):
    # the running services check this provider's tokens (the stack's mode): the venue is stored
    assert oidc_issuer() == kc.issuer(keycloak), "the running services do not use this provider"
    worker = bearer(keycloak, "demo-worker-bainikeng")
    url = f"{service_url('activities')}/v1/venues"
    mine = venue_in("bainikeng")
    created = httpx.post(url, json=mine, headers=worker, timeout=15)
    assert created.status_code == 201, created.text
    assert created.json()["community_id"] == "bainikeng"
    stored = httpx.get(f"{url}/{mine['venue_id']}", headers=worker, timeout=15)
    assert stored.status_code == 200 and stored.json()["name_en"] == "OIDC test", stored.text
    theirs = venue_in("shanxia")
    refused = httpx.post(url, json=theirs, headers=worker, timeout=15)
    assert refused.status_code == 403 and "you act for community bainikeng only" in refused.json()["detail"]
    unknown = httpx.get(f"{url}/{theirs['venue_id']}", headers=bearer(keycloak, "demo-operator"), timeout=15)
    assert unknown.status_code == 404, unknown.text  # nothing was stored for the refused one


def test_an_operator_token_of_the_provider_passes_and_a_resident_is_refused(keycloak: dict[str, str]):
    with TestClient(app_for(keycloak)) as client:
        operator = bearer(keycloak, "demo-operator")
        ok = client.get("/operators-only", headers=operator)
        assert ok.status_code == 200 and ok.json()["role"] == "operator"
        assert client.get("/whoami", headers=operator).json()["community_id"] is None  # every community
        resident = client.get("/operators-only", headers=bearer(keycloak, "demo-resident"))
        assert resident.status_code == 403


def test_a_service_whose_audience_the_token_lacks_refuses_it(keycloak: dict[str, str]):
    with TestClient(app_for(keycloak, service="payments")) as client:  # audience learnstreet-payments
        r = client.get("/operators-only", headers=bearer(keycloak, "demo-operator"))
        assert r.status_code == 401 and "not meant for this service" in r.json()["detail"]


def test_a_provider_token_with_changed_claims_is_refused(keycloak: dict[str, str]):
    token = kc.password_grant(keycloak, "demo-worker-bainikeng")["access_token"]
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["realm_access"] = {"roles": ["operator"]}
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with TestClient(app_for(keycloak)) as client:
        r = client.get("/operators-only", headers={"Authorization": f"Bearer {header}.{forged_body}.{signature}"})
        assert r.status_code == 401 and "signature does not verify" in r.json()["detail"]
