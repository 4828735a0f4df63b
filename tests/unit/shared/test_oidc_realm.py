"""The committed Keycloak realm (deploy/keycloak/learnstreet-realm.json) says what the services'
token checks expect, holds no password, and set-up fills in generated ones."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from shared.http.auth import ROLES

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
import keycloak as kc  # deploy/local/keycloak.py

SERVICES = ("activities", "enrolment", "scoring", "notify")
REALM = json.loads(kc.REALM_FILE.read_text(encoding="utf-8"))
CLIENTS = {c["clientId"]: c for c in REALM["clients"]}


def test_the_realm_has_the_roles_the_services_know():
    assert {r["name"] for r in REALM["roles"]["realm"]} == set(ROLES)


def test_each_service_audience_is_a_client_that_issues_no_tokens():
    for s in SERVICES:
        client = CLIENTS[f"learnstreet-{s}"]
        assert not client["publicClient"]
        assert not any(
            client[f] for f in ("standardFlowEnabled", "directAccessGrantsEnabled", "serviceAccountsEnabled")
        )


@pytest.mark.parametrize("client_id", ["learnstreet-dashboard", "learnstreet-cli"])
def test_tokens_name_every_service_audience_and_the_community(client_id: str):
    mappers = CLIENTS[client_id]["protocolMappers"]
    audiences = {
        m["config"]["included.client.audience"] for m in mappers if m["protocolMapper"] == "oidc-audience-mapper"
    }
    assert audiences == {f"learnstreet-{s}" for s in SERVICES}
    community = [m for m in mappers if m["protocolMapper"] == "oidc-usermodel-attribute-mapper"]
    assert community[0]["config"]["claim.name"] == "community_id"
    assert community[0]["config"]["access.token.claim"] == "true"


def test_the_dashboard_uses_the_code_flow_with_pkce_and_no_secret():
    dashboard = CLIENTS["learnstreet-dashboard"]
    assert dashboard["publicClient"] and dashboard["standardFlowEnabled"]
    assert not dashboard["directAccessGrantsEnabled"] and not dashboard["implicitFlowEnabled"]
    assert dashboard["attributes"]["pkce.code.challenge.method"] == "S256"


def test_only_administrators_may_change_a_users_community():
    config = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"]
    profile = json.loads(config["kc.user.profile.config"][0])
    community = next(a for a in profile["attributes"] if a["name"] == "community_id")
    assert community["permissions"]["edit"] == ["admin"]
    assert profile["unmanagedAttributePolicy"] != "ENABLED"  # users could edit undeclared attributes


def test_community_workers_are_scoped_and_no_password_is_committed():
    workers = [u for u in REALM["users"] if "community_worker" in u["realmRoles"]]
    assert workers and all(u["attributes"]["community_id"] for u in workers)
    assert all("credentials" not in u for u in REALM["users"])


def test_set_up_fills_generated_passwords_and_the_dashboard_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kc, "KC_SECRETS", tmp_path / "credentials.env")
    creds = kc.credential_defaults({"SCORING_HTTP_PORT": "8203"})
    assert creds == kc.credential_defaults({})  # kept, not generated again
    assert (tmp_path / "credentials.env").stat().st_mode & 0o777 == 0o600
    rendered = json.loads(kc.render_realm({**creds, "SCORING_HTTP_PORT": "8203"}))
    passwords = {u["username"]: u["credentials"][0]["value"] for u in rendered["users"]}
    assert passwords == {u: creds[kc.password_key(u)] for u in kc.demo_users()}
    assert len(set(passwords.values())) == len(passwords) and min(map(len, passwords.values())) >= 20
    dashboard = next(c for c in rendered["clients"] if c["clientId"] == "learnstreet-dashboard")
    # the page itself and anything under it (Keycloak does not match /dashboard against /dashboard/*), and
    # the district page (docs/decisions/0022-district-view.md) here and on the district instance of
    # `LS_STREETS=... make up`, scoring's port + 100 (deploy/local/streets.py)
    assert sorted(dashboard["redirectUris"]) == [
        "http://127.0.0.1:8203/dashboard", "http://127.0.0.1:8203/dashboard/*", "http://127.0.0.1:8203/district",
        "http://127.0.0.1:8303/district",
    ]  # fmt: skip
