"""Residents' sign-in on the running stack (docs/decisions/0017-resident-sign-in.md): a code asked
for at enrolment travels through Kafka to notify, which sends it to the local SMS gateway; the code
is exchanged for an ES256 token that enrolment and scoring verify from enrolment's JWKS."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.enrolment.domain import sign_in as rules
from services.enrolment.service_layer.credentials import derived_secret
from tests.integration.enrolment.helpers import LEARNER, register
from tests.integration.notify.helpers import phone as new_phone
from tests.integration.notify.helpers import sms_to
from tests.support import client, env, eventually, service_url, unique

pytestmark = pytest.mark.integration


def _key() -> bytes:
    e = env()
    return derived_secret(e.get("ENROLMENT_SIGN_IN_SECRET"), e["LS_JWT_SECRET"], b"learnstreet resident sign-in v1")


@pytest.fixture
async def db() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(env()["ENROLMENT_DATABASE_URL"])
    # this machine's address shares one hourly budget with every other test that asks for codes:
    # each test starts with it whole and leaves it whole
    here = rules.keyed_hash(_key(), "ip", "127.0.0.1")
    await conn.execute("DELETE FROM sign_in_requests WHERE bucket = $1", here)
    try:
        yield conn
    finally:
        await conn.execute("DELETE FROM sign_in_requests WHERE bucket = $1", here)
        await conn.close()


def public() -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service_url("enrolment"), timeout=10.0)


async def ask(phone: str) -> httpx.Response:
    async with public() as http:
        return await http.post("/v1/sign-in/code", json={"phone": phone})


async def exchange(phone: str, code: str) -> httpx.Response:
    async with public() as http:
        return await http.post("/v1/sign-in/token", json={"phone": phone, "code": code})


async def resident_with_phone() -> tuple[str, str]:
    number = new_phone()
    async with client("enrolment") as http:
        # no notifications (a code is sent all the same); the learning record, to read their passport
        resident = await register(http, phone=number, consent=False, preferred_channel="sms", **LEARNER)
    return resident["resident_id"], number


async def code_sent_to(number: str, seen: int = 0) -> str:
    """The code of the (seen+1)-th SMS to `number`, once the gateway has it."""
    messages = await eventually(lambda: _more(number, seen), timeout_s=30)
    text = messages[seen]["text"]
    assert "平湖街道" in text or "Pinghu" in text, text
    return re.search(r"(?<![0-9])([0-9]{6})(?![0-9])", text).group(1)


async def _more(number: str, seen: int) -> list[dict] | None:
    messages = await sms_to(number)
    return messages if len(messages) > seen else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def spaced(number: str) -> str:
    """The registered +86139xxxxxxxx as a resident types it: "139 xxxx xxxx"."""
    national = number.removeprefix("+86")
    return f"{national[:3]} {national[3:7]} {national[7:]}"


async def test_a_code_by_sms_signs_a_resident_in_to_their_own_passport_only(db):
    resident_id, number = await resident_with_phone()
    other_id, _ = await resident_with_phone()
    asked = await ask(spaced(number))
    assert asked.status_code == 202, asked.text
    assert asked.json() == {"expires_in_s": 300, "retry_after_s": 60}
    code = await code_sent_to(number)  # without consent: the resident asked for it

    answer = await exchange(number, code)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and body["resident_id"] == resident_id
    token = body["access_token"]

    async with public() as http:
        own = await http.get(f"/v1/residents/{resident_id}/passport", headers=bearer(token))
        assert own.status_code == 200, own.text
        other = await http.get(f"/v1/residents/{other_id}/passport", headers=bearer(token))
        assert other.status_code == 403, other.text
        operators = await http.get("/v1/erasures/x", headers=bearer(token))
        assert operators.status_code == 403, operators.text
        discovery = (await http.get("/.well-known/openid-configuration")).json()
        assert discovery["issuer"] == env()["LS_RESIDENT_ISSUER"].rstrip("/")
    # another service verifies the same token from enrolment's published key
    async with httpx.AsyncClient(base_url=service_url("scoring"), timeout=10.0) as scoring:
        index = await scoring.get("/v1/index", headers=bearer(token))
        assert index.status_code == 200, index.text
        audit = await scoring.get("/v1/audit", headers=bearer(token))
        assert audit.status_code == 403, audit.text

    again = await exchange(number, code)
    assert again.status_code == 401, "a used code signed in twice"


async def test_an_unregistered_phone_gets_the_same_answer_and_no_sms(db):
    number = new_phone()
    asked = await ask(number)
    assert asked.status_code == 202 and asked.json() == {"expires_in_s": 300, "retry_after_s": 60}
    # a registered resident's code asked for after it arrives first: notify has had its turn
    _, registered = await resident_with_phone()
    assert (await ask(registered)).status_code == 202
    await code_sent_to(registered)
    assert await sms_to(number) == []
    guessed = await exchange(number, "000000")
    assert guessed.status_code == 401


async def test_five_wrong_codes_kill_the_code_even_for_the_right_one(db):
    _, number = await resident_with_phone()
    assert (await ask(number)).status_code == 202
    code = await code_sent_to(number)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        answer = await exchange(number, wrong)
        assert answer.status_code == 401 and "wrong" in str(answer.json()["detail"])
    dead = await exchange(number, code)
    assert dead.status_code == 401 and "request a new code" in str(dead.json()["detail"])


async def test_an_expired_code_does_not_sign_in(db):
    _, number = await resident_with_phone()
    assert (await ask(number)).status_code == 202
    code = await code_sent_to(number)
    moved = await db.execute(
        "UPDATE sign_in_codes SET expires_at = now() - interval '1 second' WHERE phone_hash = $1",
        rules.phone_key(_key(), number),
    )
    assert moved == "UPDATE 1"
    assert (await exchange(number, code)).status_code == 401


async def test_a_second_code_within_a_minute_is_refused_with_retry_after(db):
    _, number = await resident_with_phone()
    assert (await ask(number)).status_code == 202
    again = await ask(spaced(number))  # the same phone however it is written
    assert again.status_code == 429, again.text
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    assert again.json()["detail"][0]["loc"] == ["body", "phone"]
    await code_sent_to(number)
    assert len(await sms_to(number)) == 1


async def test_twenty_codes_an_hour_from_one_address(db):
    for _ in range(20):
        assert (await ask(new_phone())).status_code == 202
    refused = await ask(new_phone())
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3000


@pytest.mark.parametrize(
    "phone",
    [
        "   ",
        " 13800138000",
        "１３８００１３８０００",
        "1" * 21,
        "+86 138 0013 8000 1234 5678",
        "13800138000\n",
        "",
        13800138000,
    ],
    ids=["spaces", "leading-space", "fullwidth-digits", "overlong", "overlong-spaced", "newline", "empty", "number"],
)
async def test_a_malformed_phone_is_422_naming_it(db, phone):
    for path, body in (
        ("/v1/sign-in/code", {"phone": phone}),
        ("/v1/sign-in/token", {"phone": phone, "code": "123456"}),
    ):
        async with public() as http:
            answer = await http.post(path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        assert ["body", "phone"] in [e["loc"] for e in answer.json()["detail"]]


@pytest.mark.parametrize("code", ["12345a", "１２３４５６", "1234567", "12345", " 123456", "", None, 123456])
async def test_a_malformed_code_is_refused_without_a_500(db, code):
    answer = await exchange(new_phone(), code)
    assert answer.status_code in (401, 422), answer.text


async def test_a_token_of_the_sign_in_issuer_is_no_token_of_the_identity_provider(db):
    async with public() as http:
        forged = await http.get(
            f"/v1/residents/{unique('r')}/passport", headers=bearer("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
        )
    assert forged.status_code == 401
