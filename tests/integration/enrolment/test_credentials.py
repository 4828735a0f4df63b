"""Verifiable honours against the real stack: an honour awarded on the honours topic (published
here with scoring's principal, as scoring publishes it) reaches the passport, is issued as an Open
Badges 3.0 credential valid against our schema of the Open Badges 3.0 data model, verifies over HTTP and with
`learnstreet verify`; a tampered copy fails for its signature; once the honour is revoked on the
topic, the status list sets the credential's bit and both verifiers say revoked."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import httpx
import jsonschema
import jwt
import pytest

from shared import credentials as vc
from shared.events.catalogue import HonourAwarded, HonourRevoked
from shared.events.envelope import envelop
from tests.integration.enrolment.helpers import LEARNER, register_many
from tests.integration.scoring.events import send
from tests.openbadges_schema import OPEN_BADGE_CREDENTIAL
from tests.support import ROOT, client, env, eventually, producer, service_url, unique

pytestmark = pytest.mark.integration

SCHEMA = OPEN_BADGE_CREDENTIAL


async def _as_scoring(*datas) -> None:
    kafka = await producer("scoring")
    try:
        await send(kafka, *(envelop(d, source="learnstreet/scoring") for d in datas))
    finally:
        await kafka.stop()


async def _learnstreet_verify(path: Path) -> tuple[int, dict]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "verify", str(path),
        cwd=ROOT, env={**os.environ, **env()}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert out, err.decode()
    return process.returncode, json.loads(out.decode().strip().splitlines()[-1])


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["term"] = "2099"
    return f"{header}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{signature}"


async def test_an_awarded_honour_is_issued_verifies_and_once_revoked_fails_as_revoked(tmp_path):
    me, other = await register_many(2, **LEARNER)
    honour, withdrawn = unique("ob-h"), unique("ob-w")
    await _as_scoring(
        HonourAwarded(honour_id=honour, kind="learning_star", period="2026", recipient_kind="resident",
                      recipient_id=me, community_id="pinghu", reason="42 hours in 2026"),
        HonourAwarded(honour_id=withdrawn, kind="excellent_volunteer", period="2026", recipient_kind="resident",
                      recipient_id=me, community_id="pinghu"),
        HonourRevoked(honour_id=withdrawn, reason="awarded by mistake"),
    )  # fmt: skip

    async with client("enrolment", "resident", me) as own:

        async def issued():
            response = await own.get(f"/v1/residents/{me}/credentials/{honour}")
            return response if response.status_code == 200 else None

        response = await eventually(issued, timeout_s=30)
        links = {
            h["honour_id"]: h["credential"] for h in (await own.get(f"/v1/residents/{me}/passport")).json()["honours"]
        }
        assert links == {honour: f"/v1/residents/{me}/credentials/{honour}", withdrawn: None}  # downloadable there
        assert response.headers["content-type"].startswith(vc.MEDIA_TYPE)
        token = response.text
        assert (await own.get(f"/v1/residents/{me}/credentials/{honour}")).text == token  # issued once
        # revoked before it was ever issued: there is nothing to issue
        refused = await own.get(f"/v1/residents/{me}/credentials/{withdrawn}")
        assert refused.status_code == 409 and "revoked" in refused.text
    async with client("enrolment", "resident", other) as theirs:
        assert (await theirs.get(f"/v1/residents/{me}/credentials/{honour}")).status_code == 403
    async with client("enrolment") as operator:
        assert (await operator.get(f"/v1/residents/{me}/credentials/{honour}")).text == token

    credential = jwt.decode(token, options={"verify_signature": False})
    validator = jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    assert not list(validator.iter_errors(credential))
    assert me not in json.dumps(credential)  # the subject is a pseudonym
    assert "百姓学习之星" in credential["credentialSubject"]["achievement"]["name"]

    async with httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10) as anyone:  # no token

        async def verdict(candidate: str) -> dict:
            response = await anyone.post("/v1/credentials/verify", json={"credential": candidate})
            assert response.status_code == 200, response.text
            return response.json()

        keys = (await anyone.get("/v1/.well-known/jwks.json")).json()
        assert jwt.get_unverified_header(token)["kid"] in {k["kid"] for k in keys["keys"]}
        assert all("d" not in k for k in keys["keys"])  # public halves only
        valid = await verdict(token)
        assert (valid["valid"], valid["reason"]) == (True, None), valid
        bad = await verdict(_tampered(token))
        assert (bad["valid"], bad["reason"]) == (False, "bad_signature")
        path = tmp_path / "honour.jwt"
        path.write_text(token)
        code, cli = await _learnstreet_verify(path)
        assert (code, cli["valid"]) == (0, True), cli

        await _as_scoring(HonourRevoked(honour_id=honour, reason="hours counted twice"))

        async def revoked():
            found = await verdict(token)
            return found if found["reason"] == "revoked" else None

        after = await eventually(revoked, timeout_s=30)
        assert after["valid"] is False and after["credential"]["id"] == credential["id"]
        status_url = credential["credentialStatus"]["statusListCredential"]
        status_list = jwt.decode((await anyone.get(status_url)).text, options={"verify_signature": False})
        bits = vc.decode_status_list(status_list["credentialSubject"]["encodedList"])
        assert vc.bit_at(bits, int(credential["credentialStatus"]["statusListIndex"]))

    code, cli = await _learnstreet_verify(path)
    assert (code, cli["valid"], cli["reason"]) == (1, False, "revoked"), cli


async def test_after_a_key_rotation_the_new_key_signs_and_earlier_credentials_still_verify():
    [me] = await register_many(1, **LEARNER)
    before, after = unique("ob-r1"), unique("ob-r2")
    awards = [
        HonourAwarded(honour_id=h, kind="learning_star", period=p, recipient_kind="resident", recipient_id=me)
        for h, p in ((before, "2025"), (after, "2026"))
    ]
    await _as_scoring(awards[0])
    async with client("enrolment", "resident", me) as own:

        async def issued(honour: str):
            response = await own.get(f"/v1/residents/{me}/credentials/{honour}")
            return response.text if response.status_code == 200 else None

        old_token = await eventually(lambda: issued(before), timeout_s=30)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.enrolment", "rotate-credential-key",
            cwd=ROOT, env={**os.environ, **env()}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
        assert process.returncode == 0, out
        kid = out.strip().splitlines()[-1].removeprefix("ROTATE-CREDENTIAL-KEY kid=")
        await _as_scoring(awards[1])
        new_token = await eventually(lambda: issued(after), timeout_s=30)
    assert jwt.get_unverified_header(new_token)["kid"] == kid != jwt.get_unverified_header(old_token)["kid"]
    async with httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10) as anyone:
        published = {k["kid"] for k in (await anyone.get("/v1/.well-known/jwks.json")).json()["keys"]}
        assert {kid, jwt.get_unverified_header(old_token)["kid"]} <= published
        for token in (old_token, new_token):
            verdict = (await anyone.post("/v1/credentials/verify", json={"credential": token})).json()
            assert verdict["valid"] is True, verdict


async def test_an_erased_residents_credentials_fail_as_revoked_and_others_on_their_list_still_verify():
    """Erasure deletes the street's record of the honour; a credential the resident had downloaded
    must then stop verifying (the street no longer vouches for it), while a credential of another
    resident on the same status list stays valid."""
    erased_one, neighbour = await register_many(2, **LEARNER)
    mine, theirs = unique("ob-e1"), unique("ob-e2")
    await _as_scoring(*(
        HonourAwarded(honour_id=h, kind="learning_star", period="2026", recipient_kind="resident", recipient_id=r)
        for h, r in ((mine, erased_one), (theirs, neighbour))
    ))  # fmt: skip
    async with client("enrolment", "operator", "ob-desk") as operator:

        async def issued(resident: str, honour: str):
            response = await operator.get(f"/v1/residents/{resident}/credentials/{honour}")
            return response.text if response.status_code == 200 else None

        token = await eventually(lambda: issued(erased_one, mine), timeout_s=30)
        other = await eventually(lambda: issued(neighbour, theirs), timeout_s=30)

        async def verdict(candidate: str) -> dict:
            response = await operator.post("/v1/credentials/verify", json={"credential": candidate})
            assert response.status_code == 200, response.text
            return response.json()

        assert (await verdict(token))["valid"] is True
        r = await operator.post(f"/v1/residents/{erased_one}/erasure",
                                json={"reason": "the resident's written request", "approved_by": "ob-dpo"})  # fmt: skip
        assert r.status_code == 201, r.text

        async def revoked():
            found = await verdict(token)
            return found if found["reason"] == "revoked" else None

        assert (await eventually(revoked, timeout_s=60))["valid"] is False
        assert (await verdict(other))["valid"] is True
