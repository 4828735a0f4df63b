"""The route list (docs/security/routes.md) is the code's: every route of every service is there
with the roles its auth dependency admits and the scope rule it applies; a route without a role
is one of the declared public ones; community workers and venue staff are admitted only where the
route applies the community scope; kiosks reach only their scans (issue 16).

The apps are built in this process (deploy/tools/routes.py), nothing is started."""

from __future__ import annotations

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deploy.tools import routes
from shared.http.auth import (
    SCOPE_RULES,
    SCOPED_ROLES,
    SIGNED_IN,
    CommunityStaff,
    Principal,
    Reader,
    install_auth,
    mint_token,
    venues_from,
)
from tests.unit.shared import test_oidc as oidc

# Routes anyone may call without signing in; any other route without a role fails the test.
PUBLIC = {
    ("activities", "GET", "/v1/reference"),
    ("enrolment", "GET", "/v1/certificates/{code}"),
    ("enrolment", "GET", "/v1/.well-known/jwks.json"),
    ("enrolment", "GET", "/v1/credentials/issuer"),
    ("enrolment", "GET", "/v1/credentials/status/{list_id}"),
    ("enrolment", "POST", "/v1/credentials/verify"),
    # residents' sign-in: how a resident gets a token, and its issuer's keys (ADR 0017)
    ("enrolment", "POST", "/v1/sign-in/code"),
    ("enrolment", "POST", "/v1/sign-in/token"),
    ("enrolment", "GET", "/v1/sign-in/jwks.json"),
    ("enrolment", "GET", "/.well-known/openid-configuration"),
    # the privacy notice a resident reads before agreeing to a purpose (PIPL Art. 17)
    ("enrolment", "GET", "/v1/privacy-notice"),
}
# All a kiosk needs: send a scan, read what became of its own scans.
KIOSK_ROUTES = {("activities", "POST", "/v1/checkins"), ("activities", "GET", "/v1/checkins/{checkin_id}")}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return routes.operations(routes.specs())


def _key(r: dict) -> tuple[str, str, str]:
    return r["service"], r["method"], r["path"]


def test_the_route_list_is_generated_from_the_code():
    text = routes.render(routes.specs())
    assert routes.DOC.read_text(encoding="utf-8") == text, (
        "docs/security/routes.md is stale: run .venv/bin/python deploy/tools/routes.py"
    )


def test_every_route_names_its_roles_or_is_declared_public(rows):
    assert {r["service"] for r in rows} == set(routes.SERVICES)
    undocumented = [_key(r) for r in rows if not r["documented"]]
    assert not undocumented, f"operations without x-roles: {undocumented}"
    public = {_key(r) for r in rows if not r["roles"]}
    assert public == PUBLIC, f"routes without a role that are not declared public: {sorted(public - PUBLIC)}"


def test_scoped_staff_are_admitted_only_where_the_route_applies_their_scope(rows):
    scoping = {"community", "reference"}
    unscoped = [_key(r) for r in rows if set(r["roles"]) & set(SCOPED_ROLES) and not scoping & set(r["scope"])]
    assert not unscoped, f"community workers or venue staff admitted without the community scope: {unscoped}"
    unknown = {s for r in rows for s in r["scope"]} - set(SCOPE_RULES)
    assert not unknown, f"scope rules the route list does not explain: {unknown}"


def test_kiosks_reach_only_their_scans(rows):
    assert {_key(r) for r in rows if "kiosk" in r["roles"]} == KIOSK_ROUTES
    assert "kiosk" not in SIGNED_IN


def test_a_residents_answers_and_ratings_are_read_by_them_and_their_staff_only(rows):
    """Issue 15: the phone page reads them back; an operator and the resident's community worker too."""
    by_key = {_key(r): r for r in rows}
    for path in ("/v1/residents/{resident_id}/survey-responses", "/v1/residents/{resident_id}/satisfaction"):
        row = by_key[("activities", "GET", path)]
        assert set(row["roles"]) == {"resident", "operator", "community_worker"}, row
        assert set(row["scope"]) == {"self", "community"}, row


def test_the_district_view_is_read_by_operators_and_assessors_only(rows):
    """Issue 19 (ADR 0022): the streets' published totals side by side, no community's scope maps to them."""
    by_key = {_key(r): r for r in rows}
    for path in ("/v1/district/index", "/v1/district/streets/{street}"):
        row = by_key[("scoring", "GET", path)]
        assert set(row["roles"]) == {"operator", "assessor"} and not row["scope"], row


def test_the_generator_fails_a_route_that_is_missing_from_the_file(rows):
    spec = {s: {"paths": dict(v["paths"])} for s, v in routes.specs().items()}
    spec["activities"]["paths"]["/v1/new-thing"] = {"get": {"x-roles": ["operator"], "x-scope": []}}
    assert "`/v1/new-thing` | operator" in routes.render(spec)
    assert routes.render(spec) != routes.DOC.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the scope object


def worker(community: str | None = "a") -> Principal:
    return Principal("w", "community_worker", community_id=community)


def staff(*venues: str) -> Principal:
    return Principal("s", "venue_staff", venue_ids=frozenset(venues))


def test_a_community_worker_reaches_their_community_only():
    assert worker().reach_refusal("a") is None
    assert worker().reach_refusal("a", "any-venue-of-a") is None
    assert "community a only" in worker().reach_refusal("b")
    assert "community a only" in worker().reach_refusal(None)
    assert "community_id claim" in worker(None).reach_refusal("a")


def test_venue_staff_reach_their_venues_only():
    assert staff("v1", "v2").reach_refusal("a", "v2") is None
    assert "v1, v2" in staff("v1", "v2").reach_refusal("a", "v3")
    assert staff("v1").reach_refusal("a") is not None  # community-wide data is not a venue's


def test_others_are_not_limited_by_community():
    for role in ("operator", "assessor", "resident", "kiosk"):
        assert Principal("x", role).reach_refusal("b", "v9") is None


def test_list_filters():
    assert worker().community_filter(None) == "a"
    assert worker().community_filter("a") == "a"
    with pytest.raises(Exception) as refused:
        worker().community_filter("b")
    assert refused.value.status_code == 403 and "community a only" in refused.value.detail
    assert Principal("o", "operator").community_filter("b") == "b"
    assert Principal("o", "operator").community_filter(None) is None


def test_acting_as_keeps_the_scope():
    p = Principal("x", "operator", frozenset({"operator", "venue_staff"}), venue_ids=frozenset({"v1"}))
    acting = p.acting_as(("venue_staff",))
    assert acting is not None and acting.role == "venue_staff" and acting.venue_ids == {"v1"}


@pytest.mark.parametrize(
    ("claim", "venues"),
    [("v1", {"v1"}), (["v1", "v2"], {"v1", "v2"}), ("v1 v2", {"v1", "v2"}), (None, set()), (3, set())],
)
def test_venue_claim_forms(claim, venues):
    assert venues_from(claim) == venues


SECRET = "k7Qp2Wn9Xr4Ls8Vt3Zb6Md1Hc5Jf0Gy!"


def _app() -> FastAPI:
    app = FastAPI()
    install_auth(app, service="activities", jwt_secret=SECRET, environ={})

    @app.get("/read")
    async def read(p: Reader) -> dict:
        return {"role": p.role, "community_id": p.community_id, "venues": sorted(p.venue_ids)}

    @app.get("/community")
    async def community(p: CommunityStaff) -> dict:
        return {"role": p.role}

    return app


def test_hs256_tokens_carry_the_venue_claim_and_scoped_tokens_must_name_their_scope():
    with TestClient(_app()) as c:

        def get(path: str, **claims) -> tuple[int, dict]:
            token = mint_token(SECRET, subject="x", **claims)
            r = c.get(path, headers={"Authorization": f"Bearer {token}"})
            return r.status_code, r.json()

        assert get("/read", role="venue_staff", venue_id=["v1", "v2"]) == (
            200, {"role": "venue_staff", "community_id": None, "venues": ["v1", "v2"]},
        )  # fmt: skip
        status, body = get("/read", role="venue_staff")
        assert status == 403 and "venue_id claim" in body["detail"]
        status, body = get("/read", role="community_worker")
        assert status == 403 and "community_id claim" in body["detail"]
        assert get("/read", role="kiosk")[0] == 403
        assert get("/community", role="venue_staff", venue_id="v1")[0] == 403
        spec = c.get("/openapi.json").json()["paths"]
    assert spec["/read"]["get"]["x-roles"] == [*SIGNED_IN, *SCOPED_ROLES]
    assert spec["/read"]["get"]["x-scope"] == ["community"]
    assert spec["/community"]["get"]["x-roles"] == ["operator", "community_worker"]


@pytest.fixture
def provider():
    """An identity provider in this process (tests/unit/shared/test_oidc.py's)."""
    p = oidc.Provider()
    p.publish(oidc.RSA_KEY, "k1", "RS256")
    yield p
    p.server.shutdown()
    p.server.server_close()


def test_oidc_tokens_carry_the_venue_claim_at_its_configured_path(provider):
    app = FastAPI()
    install_auth(app, service="activities", jwt_secret=None,
                 environ={"LS_OIDC_ISSUER": provider.issuer, "LS_OIDC_VENUE_CLAIM": "org.venues"})  # fmt: skip

    @app.get("/read")
    async def read(p: Reader) -> dict:
        return {"role": p.role, "venues": sorted(p.venue_ids)}

    staff_roles = {"realm_access": {"roles": ["venue_staff"]}}
    with TestClient(app) as c:
        token = provider.token(oidc.RSA_KEY, org={"venues": ["v1", "v2"]}, **staff_roles)
        r = c.get("/read", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"role": "venue_staff", "venues": ["v1", "v2"]}
        token = provider.token(oidc.RSA_KEY, venue_id="v1", **staff_roles)  # the default path is not the configured one
        r = c.get("/read", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "venue_id claim" in r.json()["detail"]


def test_learnstreet_token_mints_venue_staff_tokens_with_their_venues(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from shared.cli import app as cli_app

    monkeypatch.setenv("LS_CREDENTIALS_FILE", str(tmp_path / "none.env"))  # not the stack's (it may name an issuer)
    monkeypatch.setenv("LS_JWT_SECRET", SECRET)
    monkeypatch.setenv("LS_OIDC_ISSUER", "")
    runner = CliRunner()
    minted = runner.invoke(cli_app, ["token", "--role", "venue_staff", "--venue", "v1", "--venue", "v2"])
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["role"] == "venue_staff" and claims["venue_id"] == ["v1", "v2"]
    refused = runner.invoke(cli_app, ["token", "--role", "venue_staff"])
    assert refused.exit_code == 2 and "--venue" in refused.output
