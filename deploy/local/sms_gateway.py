"""A local SMS gateway for development and tests, behaving like a real provider's HTTP API.

    .venv/bin/python deploy/local/sms_gateway.py     # listens where NOTIFY_SMS_URL points

- `POST /v1/messages` {"to", "text", "reference"?} with `Authorization: Bearer <NOTIFY_SMS_TOKEN>`
  and an `Idempotency-Key` header: 201 {"id", "status": "accepted"}. A repeated key returns the
  original response (header `Idempotent-Replayed: true`) and sends nothing; a key still being
  processed gets 409. Accepted messages are appended to .local/sms/messages.jsonl, which also
  restores the keys after a restart. Every request, before this de-duplication, is appended to
  .local/sms/requests.jsonl with what it was answered (`accepted`, `replayed`, `in_flight`,
  `injected_<status>`): a real carrier does not de-duplicate, so a repeat after an accepted
  request is a second SMS to the resident, and the chaos harness counts those from this log.
- `POST /admin/fail` {"mode": "400"|"429"|"500"|"503"|"timeout", "times": N, "to"?: phone,
  "delay_s"?: seconds}: the next N requests (for that phone only, if given) fail that way.
  "timeout" accepts the message but answers only after `delay_s` (default 30 s), as a slow
  provider does. `DELETE /admin/fail` clears the rules. Admin calls need the token as well.
- `GET /admin/messages?to=&key=`: the accepted messages; `GET /healthz`.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import orjson
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[2]
SMS_DIR = Path(os.environ.get("NOTIFY_SMS_DIR", ROOT / ".local" / "sms"))
LOG = SMS_DIR / "messages.jsonl"
REQUESTS = SMS_DIR / "requests.jsonl"
TOKEN = os.environ.get("NOTIFY_SMS_TOKEN", "local-sms-token")
URL = os.environ.get("NOTIFY_SMS_URL", "http://127.0.0.1:8105/v1/messages")


class MessageIn(BaseModel):
    to: str = Field(min_length=3, max_length=32)
    text: str = Field(min_length=1, max_length=2000)
    reference: str | None = Field(None, max_length=128)


class FailRule(BaseModel):
    mode: Literal["400", "429", "500", "502", "503", "timeout"]
    times: int = Field(1, ge=1, le=1000)
    to: str | None = None
    delay_s: float = Field(30.0, ge=0, le=300)


app = FastAPI(title="local SMS gateway")
responses: dict[str, dict] = {}  # idempotency key -> the original response body
in_flight: set[str] = set()
requests_seen: dict[str, int] = {}  # idempotency key -> requests received (retries included)
rules: list[FailRule] = []
lock = asyncio.Lock()


def _load() -> None:
    SMS_DIR.mkdir(parents=True, exist_ok=True)
    if LOG.exists():
        for line in LOG.read_bytes().splitlines():
            if line.strip():
                entry = orjson.loads(line)
                responses[entry["idempotency_key"]] = entry["response"]


def _record_request(key: str, body: MessageIn, outcome: str) -> None:
    entry = {"received_at": _now(), "idempotency_key": key, "to": body.to, "reference": body.reference,
             "outcome": outcome}  # fmt: skip
    with REQUESTS.open("ab") as f:
        f.write(orjson.dumps(entry) + b"\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _authorise(authorization: str | None) -> None:
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(401, "missing or wrong bearer token")


def _take_rule(to: str) -> FailRule | None:
    for rule in rules:
        if rule.to is None or rule.to == to:
            rule.times -= 1
            if rule.times <= 0:
                rules.remove(rule)
            return rule
    return None


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok", "messages": len(responses)}


@app.post("/v1/messages", status_code=201)
async def send(
    body: MessageIn,
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
):
    _authorise(authorization)
    if not idempotency_key:
        raise HTTPException(422, "the Idempotency-Key header is required")
    async with lock:
        requests_seen[idempotency_key] = requests_seen.get(idempotency_key, 0) + 1
        if idempotency_key in responses:
            _record_request(idempotency_key, body, "replayed")
            return JSONResponse(responses[idempotency_key], 201, headers={"Idempotent-Replayed": "true"})
        if idempotency_key in in_flight:
            _record_request(idempotency_key, body, "in_flight")
            raise HTTPException(409, "a request with this Idempotency-Key is being processed")
        rule = _take_rule(body.to)
        if rule is not None and rule.mode != "timeout":
            _record_request(idempotency_key, body, f"injected_{rule.mode}")
            return JSONResponse(
                {"error": f"injected failure {rule.mode}"}, int(rule.mode), headers={"Retry-After": "1"}
            )
        _record_request(idempotency_key, body, "accepted")
        in_flight.add(idempotency_key)
    try:
        if rule is not None:  # a slow provider: the message is accepted, the answer comes late
            await asyncio.sleep(rule.delay_s)
        response = {"id": f"sms-{uuid.uuid4().hex[:16]}", "status": "accepted"}
        entry = {
            "received_at": _now(),
            "idempotency_key": idempotency_key,
            "to": body.to,
            "text": body.text,
            "reference": body.reference,
            "response": response,
        }
        async with lock:
            with LOG.open("ab") as f:
                f.write(orjson.dumps(entry) + b"\n")
            responses[idempotency_key] = response
        return JSONResponse(response, 201)
    finally:
        in_flight.discard(idempotency_key)


@app.post("/admin/fail")
async def fail(rule: FailRule, authorization: Annotated[str | None, Header()] = None) -> dict:
    _authorise(authorization)
    rules.append(rule)
    return {"rules": [r.model_dump() for r in rules]}


@app.delete("/admin/fail")
async def clear(authorization: Annotated[str | None, Header()] = None) -> dict:
    _authorise(authorization)
    rules.clear()
    return {"rules": []}


@app.get("/admin/messages")
async def messages(
    to: str | None = None, key: str | None = None, authorization: Annotated[str | None, Header()] = None
) -> list[dict]:
    _authorise(authorization)
    out = []
    if LOG.exists():
        for line in LOG.read_bytes().splitlines():
            if line.strip():
                entry = orjson.loads(line)
                if (to is None or entry["to"] == to) and (key is None or entry["idempotency_key"] == key):
                    out.append(entry)
    return out


@app.get("/admin/requests")
async def requests_of(key: str, authorization: Annotated[str | None, Header()] = None) -> dict:
    _authorise(authorization)
    return {"key": key, "requests": requests_seen.get(key, 0), "accepted": key in responses}


def main() -> None:
    _load()
    url = urlsplit(URL)
    uvicorn.run(app, host=url.hostname or "127.0.0.1", port=url.port or 8105, log_level="warning")


if __name__ == "__main__":
    main()
