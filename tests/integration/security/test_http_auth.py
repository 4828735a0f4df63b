"""Every HTTP endpoint of every service, enumerated from its OpenAPI document, refuses a missing,
expired, forged or wrong-role token; residents see only their own data; oversized bodies get 413.

Which roles may call what is declared here once, as docs/security/routes.md (generated from the
code) lists them: an endpoint not listed is an operator (or assessor, community worker, venue
staff) endpoint and must refuse residents and kiosks, so a new endpoint is covered the day it
appears and opening one to residents is a deliberate change of this file.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from shared.http.auth import ALGORITHM
from tests.support import client, env, eventually, expired_token, service_url, token, unique

pytestmark = pytest.mark.integration

SERVICES = ("activities", "enrolment", "scoring", "notify")
PUBLIC = {
    ("activities", "GET", "/v1/reference"),  # the street's reference data
    ("enrolment", "GET", "/v1/certificates/{code}"),  # whoever holds a certificate of learning checks it
    # whoever is shown an Open Badge verifies it: the street's keys, issuer profile, status lists
    ("enrolment", "GET", "/v1/.well-known/jwks.json"),
    ("enrolment", "GET", "/v1/credentials/issuer"),
    ("enrolment", "GET", "/v1/credentials/status/{list_id}"),
    ("enrolment", "POST", "/v1/credentials/verify"),
    # a resident signs in with a code sent to their phone; every service reads the sign-in issuer's keys
    ("enrolment", "GET", "/.well-known/openid-configuration"),
    ("enrolment", "GET", "/v1/sign-in/jwks.json"),
    ("enrolment", "POST", "/v1/sign-in/code"),
    ("enrolment", "POST", "/v1/sign-in/token"),
    ("enrolment", "GET", "/v1/privacy-notice"),  # what a resident reads before agreeing to a purpose
}
ANY_ROLE = {  # the catalogue and the index are open to every signed-in user
    ("activities", "GET", "/v1/venues"),
    ("activities", "GET", "/v1/venues/{venue_id}"),
    ("activities", "GET", "/v1/venues/{venue_id}/closing"),  # a venue's announced closing (not a kiosk's)
    ("activities", "GET", "/v1/providers/{provider_id}"),
    ("activities", "GET", "/v1/courses/{course_id}"),
    ("activities", "GET", "/v1/courses/{course_id}/sessions"),
    ("activities", "GET", "/v1/sessions/{session_id}"),
    ("activities", "GET", "/v1/needs/ranking"),
    ("enrolment", "GET", "/v1/sessions"),  # upcoming sessions, as the residents' phone page lists them
    ("scoring", "GET", "/v1/index"),
    ("scoring", "GET", "/v1/index/{community_id}"),
    ("scoring", "GET", "/v1/index/{community_id}/rectification"),
    ("scoring", "GET", "/v1/index/{community_id}/history"),
    ("scoring", "GET", "/v1/indicators"),
    ("scoring", "GET", "/v1/honours"),
    # an honour's record (a resident: their own, or a candidate in its notice period); anyone signed in
    # may object to a candidate in its notice period (公示)
    ("scoring", "GET", "/v1/honours/{honour_id}"),
    ("scoring", "POST", "/v1/honours/{honour_id}/objections"),
}
RESIDENT_SELF = {  # a resident's own data: the handler checks the token's subject
    ("activities", "POST", "/v1/needs/votes"),
    ("activities", "GET", "/v1/residents/{resident_id}/votes"),
    ("activities", "GET", "/v1/residents/{resident_id}/attendance/{session_id}"),
    # surveys addressed to the resident, their answer, their rating of a session they attended (issue 15)
    ("activities", "GET", "/v1/surveys"),
    ("activities", "GET", "/v1/surveys/{survey_id}"),
    ("activities", "POST", "/v1/surveys/{survey_id}/responses"),
    ("activities", "POST", "/v1/sessions/{session_id}/satisfaction"),
    # their own answers and ratings, read back by the phone page after a reload (issue 15)
    ("activities", "GET", "/v1/residents/{resident_id}/survey-responses"),
    ("activities", "GET", "/v1/residents/{resident_id}/satisfaction"),
    ("enrolment", "GET", "/v1/residents/{resident_id}"),
    ("enrolment", "PATCH", "/v1/residents/{resident_id}"),
    # their consent per purpose of the privacy notice: read, agree, withdraw (issue 17)
    ("enrolment", "GET", "/v1/residents/{resident_id}/consents"),
    ("enrolment", "PUT", "/v1/residents/{resident_id}/consents/{purpose}"),
    ("enrolment", "DELETE", "/v1/residents/{resident_id}/consents/{purpose}"),
    ("enrolment", "POST", "/v1/sessions/{session_id}/enrolments"),
    ("enrolment", "DELETE", "/v1/enrolments/{enrolment_id}"),
    ("enrolment", "GET", "/v1/enrolments/{enrolment_id}"),
    ("enrolment", "GET", "/v1/residents/{resident_id}/enrolments"),
    ("enrolment", "GET", "/v1/residents/{resident_id}/passport"),
    ("enrolment", "GET", "/v1/residents/{resident_id}/passport/certificate"),
    ("enrolment", "GET", "/v1/residents/{resident_id}/credentials/{honour_id}"),
    ("notify", "GET", "/v1/residents/{resident_id}/notifications"),
    ("notify", "GET", "/v1/notifications/{notification_id}"),
    # a volunteer records their own service, lists it (filtered to themselves) and reads their hours
    ("scoring", "POST", "/v1/volunteer-service"),
    ("scoring", "GET", "/v1/volunteer-service"),
    ("scoring", "GET", "/v1/volunteers/{resident_id}/service-hours"),
    *((service, "GET", "/v1/residents/{resident_id}/data-export") for service in SERVICES),
}
KIOSK = {("activities", "POST", "/v1/checkins"), ("activities", "GET", "/v1/checkins/{checkin_id}")}
ASSESSOR = {
    ("scoring", "POST", "/v1/assessments"),
    ("scoring", "GET", "/v1/assessments"),
    # an assessor verifies or reopens a rectification task and comments on it (opening one is an operator's)
    ("scoring", "GET", "/v1/rectification-tasks"),
    ("scoring", "GET", "/v1/rectification-tasks/{task_id}"),
    ("scoring", "PATCH", "/v1/rectification-tasks/{task_id}"),
    ("scoring", "POST", "/v1/rectification-tasks/{task_id}/comments"),
    # an assessor files and reads evidence for an indicator (deleting it is an operator's)
    ("scoring", "GET", "/v1/evidence"),
    ("scoring", "POST", "/v1/evidence"),
    ("scoring", "GET", "/v1/evidence/{evidence_id}"),
    ("scoring", "GET", "/v1/evidence/{evidence_id}/content"),
    ("scoring", "GET", "/v1/periods/{period}"),  # a closed period's frozen figures
    # the district view: each street's published index side by side, and a street's communities (ADR 0022)
    ("scoring", "GET", "/v1/district/index"),
    ("scoring", "GET", "/v1/district/streets/{street}"),
}
# what each non-operator role may reach past authentication (403 everywhere else)
ALLOWED = {
    "resident": PUBLIC | ANY_ROLE | RESIDENT_SELF,
    "kiosk": PUBLIC | KIOSK,  # a kiosk reads only what it needs: its own scans (issue 16)
    # residents' own records are theirs and the operators': an assessor is refused them by role
    "assessor": PUBLIC | ANY_ROLE | ASSESSOR,
}


def operations() -> list[tuple[str, str, str]]:
    ops = []
    for service in SERVICES:
        try:
            spec = httpx.get(f"{service_url(service)}/openapi.json", timeout=10).json()
        except httpx.HTTPError as e:  # fail this service's tests (not skip them), test the others
            ops.append((service, "GET", f"/openapi.json unreachable: {e}"))
            continue
        for path, item in spec["paths"].items():
            ops += [(service, m.upper(), path) for m in item if m in ("get", "post", "put", "patch", "delete")]
    return sorted(ops)


OPERATIONS = operations()
PROTECTED = [op for op in OPERATIONS if op not in PUBLIC]
IDS = [f"{s} {m} {p}" for s, m, p in PROTECTED]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: f"sec-{uuid.uuid4().hex[:10]}", path)


def call(op: tuple[str, str, str], bearer: str | None) -> httpx.Response:
    service, method, path = op
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    url = service_url(service) + concrete(path)
    for _ in range(60):  # a service being restarted by another test's crash test comes back
        try:
            return httpx.request(method, url, json=body, headers=headers, timeout=10)
        except httpx.ConnectError:
            time.sleep(1)
    return httpx.request(method, url, json=body, headers=headers, timeout=10)


def test_every_service_documents_its_routes():
    assert {op[0] for op in OPERATIONS} == set(SERVICES), OPERATIONS
    listed = PUBLIC | ANY_ROLE | RESIDENT_SELF | KIOSK | ASSESSOR
    stale = sorted(op for op in listed if op not in OPERATIONS)
    assert not stale, f"declared here but no longer served (update this file): {stale}"


@pytest.mark.parametrize("op", PROTECTED, ids=IDS)
def test_missing_token_is_401(op):
    r = call(op, None)
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize("op", PROTECTED, ids=IDS)
def test_expired_token_is_401(op):
    r = call(op, expired_token())
    assert r.status_code == 401 and "expired" in r.text, (r.status_code, r.text)


@pytest.mark.parametrize("op", PROTECTED, ids=IDS)
def test_forged_or_malformed_token_is_401(op):
    now = datetime.now(UTC)
    wrong_key = jwt.encode({"sub": "op", "role": "operator", "exp": now + timedelta(minutes=5)}, "x" * 32, ALGORITHM)
    for bearer in (wrong_key, "not-a-jwt", jwt.encode({"sub": "op", "role": "root", "exp": now + timedelta(minutes=5)},
                                                       env()["LS_JWT_SECRET"], ALGORITHM)):  # fmt: skip
        r = call(op, bearer)
        assert r.status_code == 401, (bearer[:12], r.status_code, r.text)


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_wrong_role_is_403_on_every_endpoint_it_was_not_given(role):
    refused, wrong = 0, []
    for op in PROTECTED:
        if op in ALLOWED[role]:
            continue
        r = call(op, token(role, subject=f"sec-{role}-{uuid.uuid4().hex[:6]}"))
        refused += 1
        if r.status_code != 403:
            wrong.append(f"{op}: {r.status_code} {r.text[:120]}")
    assert refused > 0
    assert not wrong, f"{role} token not refused with 403:\n" + "\n".join(wrong)


@pytest.mark.parametrize("op", sorted(o for o in RESIDENT_SELF if "{resident_id}" in o[2]), ids=str)
def test_a_resident_cannot_reach_another_residents_data(op):
    r = call(op, token("resident", subject=f"sec-r-{uuid.uuid4().hex[:8]}"))
    assert r.status_code == 403, (r.status_code, r.text)


# ---------------------------------------------------------------- own data, with real records
async def test_residents_see_only_their_own_enrolments():
    stamp = datetime.now(UTC)
    venue, course, session = unique("sec-v"), unique("sec-c"), unique("sec-s")
    alice, bob = unique("sec-alice"), unique("sec-bob")
    async with client("activities") as act, client("enrolment") as enr:
        community = (await act.get("/v1/reference")).json()["communities"][0]["id"]
        venue_body = {"venue_id": venue, "community_id": community, "name_zh": "安全测试", "name_en": "Security test",
                      "venue_type": "library", "capacity": 50}  # fmt: skip
        r = await act.post("/v1/venues", json=venue_body)
        assert r.status_code == 201, r.text
        r = await act.post("/v1/courses", json={"course_id": course, "title_zh": "安全", "title_en": "Safety",
                                                "theme": "safety"})  # fmt: skip
        assert r.status_code == 201, r.text
        starts = stamp + timedelta(days=3)
        r = await act.post(f"/v1/courses/{course}/sessions", json={
            "session_id": session, "venue_id": venue, "capacity": 10,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        })  # fmt: skip
        assert r.status_code == 201, r.text
        for rid in (alice, bob):
            r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": community,
                                                      "audience_group": "adult"})  # fmt: skip
            assert r.status_code == 201, r.text

        async def enrolled():
            r = await enr.post(f"/v1/sessions/{session}/enrolments", json={"resident_id": alice})
            return r if r.status_code == 201 else None

        enrolment_id = (await eventually(enrolled, timeout_s=60, every_s=0.5)).json()["enrolment_id"]
    async with client("enrolment", "resident", alice) as as_alice, client("enrolment", "resident", bob) as as_bob:
        assert (await as_alice.get(f"/v1/enrolments/{enrolment_id}")).status_code == 200
        mine = await as_alice.get(f"/v1/residents/{alice}/enrolments")
        assert mine.status_code == 200 and enrolment_id in mine.text
        assert (await as_bob.get(f"/v1/enrolments/{enrolment_id}")).status_code == 403
        assert (await as_bob.get(f"/v1/residents/{alice}/enrolments")).status_code == 403
        assert (await as_bob.delete(f"/v1/enrolments/{enrolment_id}")).status_code == 403
        r = await as_bob.post(f"/v1/sessions/{session}/enrolments", json={"resident_id": alice})
        assert r.status_code == 403, r.text
        theirs = await as_bob.get(f"/v1/residents/{bob}/enrolments")
        assert theirs.status_code == 200 and enrolment_id not in theirs.text
        assert (await as_alice.get(f"/v1/enrolments/{enrolment_id}")).json()["status"] != "cancelled"


async def test_residents_see_only_their_own_notifications():
    alice, bob = unique("sec-alice"), unique("sec-bob")
    async with client("notify", "resident", alice) as as_alice:
        r = await as_alice.get(f"/v1/residents/{alice}/notifications")
        assert r.status_code in (200, 404), r.text  # 404: notify has not heard of her yet
        r = await as_alice.get(f"/v1/residents/{bob}/notifications")
        assert r.status_code == 403, r.text


# ---------------------------------------------------------------- oversized bodies
@pytest.mark.parametrize("service", SERVICES)
async def test_a_body_over_1_mib_is_refused_with_413(service):
    path = {"activities": "/v1/venues", "enrolment": "/v1/residents", "scoring": "/v1/assessments",
            "notify": "/v1/dead-letters/x/replay"}[service]  # fmt: skip
    body = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    async with client(service) as http:
        r = await http.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert "larger than" in r.text


async def test_a_chunked_body_over_1_mib_is_refused_with_413():
    async def chunks():
        yield b'{"venue_id": "sec-big", "pad": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    async with client("activities") as http:
        r = await http.post("/v1/venues", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, (r.status_code, r.text[:200])
