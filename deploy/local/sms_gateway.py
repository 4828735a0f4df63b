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
- `POST /carrier/SendSms` acts as a Chinese carrier (Aliyun dysms `SendSms`, JSON instead of signed
  query parameters; the same bearer token as the AccessKey): {"PhoneNumbers", "SignName",
  "TemplateCode", "TemplateParam" (a JSON object as a string), "OutId"?}. It reads the registered
  signature and templates from `sms_templates.yaml` (`NOTIFY_SMS_TEMPLATES`, else in
  `LS_REFERENCE_DIR`, default reference/pinghu), refuses as the carrier does (HTTP 200 with
  `Code`: isv.SMS_SIGNATURE_ILLEGAL, isv.SMS_TEMPLATE_ILLEGAL, isv.TEMPLATE_MISSING_PARAMETERS,
  isv.TEMPLATE_PARAMS_ILLEGAL, isv.INVALID_JSON_PARAM, isv.MOBILE_NUMBER_ILLEGAL), else renders
  【signature】 + the registered text, counts its segments (70 characters for one SMS, 67 per part
  beyond, UCS-2 code units) and appends it to messages.jsonl (`channel`: "carrier", the code,
  the parameters, `segments`) with `idempotency_key` = OutId. It does not de-duplicate on OutId:
  carriers do not. The /admin/fail rules apply: "429" answers isv.BUSINESS_LIMIT_CONTROL (the
  carrier's throttling), 5xx answer isp.SYSTEM_ERROR with that status.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import orjson
import uvicorn
import yaml
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[2]
SMS_DIR = Path(os.environ.get("NOTIFY_SMS_DIR", ROOT / ".local" / "sms"))
LOG = SMS_DIR / "messages.jsonl"
REQUESTS = SMS_DIR / "requests.jsonl"
TOKEN = os.environ.get("NOTIFY_SMS_TOKEN", "local-sms-token")
URL = os.environ.get("NOTIFY_SMS_URL", "http://127.0.0.1:8105/v1/messages")
TEMPLATES = Path(
    os.environ.get("NOTIFY_SMS_TEMPLATES")
    or Path(os.environ.get("LS_REFERENCE_DIR", "reference/pinghu")) / "sms_templates.yaml"
)
TEMPLATES = TEMPLATES if TEMPLATES.is_absolute() else ROOT / TEMPLATES
PARAM = re.compile(r"\$\{(\w+)\}")
MOBILE = re.compile(r"(\+?86|0086)?1[3-9]\d{9}")


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
                if entry.get("channel") != "carrier":  # the carrier endpoint keeps no keys
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


class CarrierSmsIn(BaseModel):
    PhoneNumbers: str = Field(min_length=1, max_length=2000)
    SignName: str = Field(min_length=1, max_length=64)
    TemplateCode: str = Field(min_length=1, max_length=64)
    TemplateParam: str | None = Field(None, max_length=4000)
    OutId: str | None = Field(None, max_length=256)


_registry: dict = {"mtime": None, "data": None}


def _registered() -> tuple[str, dict[str, str]]:
    """The carrier console: the approved signature and template texts by code (re-read when edited)."""
    mtime = TEMPLATES.stat().st_mtime
    if _registry["mtime"] != mtime:
        data = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
        texts = {str(e["code"]): str(e["text"]) for langs in data["templates"].values() for e in langs.values()}
        _registry.update(mtime=mtime, data=(str(data["sign_name"]), texts))
    return _registry["data"]


def segments(text: str) -> int:
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _carrier_answer(code: str, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"Code": code, "Message": message, "RequestId": str(uuid.uuid4())}, status)


def _carrier_refusal(body: CarrierSmsIn) -> tuple[str, str] | tuple[None, dict[str, str]]:
    sign_name, texts = _registered()
    if body.SignName.strip("【】") != sign_name:
        return "isv.SMS_SIGNATURE_ILLEGAL", f"signature {body.SignName!r} is not registered"
    if body.TemplateCode not in texts:
        return "isv.SMS_TEMPLATE_ILLEGAL", f"template {body.TemplateCode!r} is not registered or not approved"
    if not all(MOBILE.fullmatch(n.strip()) for n in body.PhoneNumbers.split(",")):
        return "isv.MOBILE_NUMBER_ILLEGAL", "not a mainland mobile number"
    try:
        params = orjson.loads(body.TemplateParam or "{}")
    except orjson.JSONDecodeError:
        return "isv.INVALID_JSON_PARAM", "TemplateParam is not JSON"
    if not isinstance(params, dict) or not all(isinstance(v, str | int) for v in params.values()):
        return "isv.INVALID_JSON_PARAM", "TemplateParam is not an object of strings"
    wanted = set(PARAM.findall(texts[body.TemplateCode]))
    if wanted - params.keys():
        return "isv.TEMPLATE_MISSING_PARAMETERS", f"missing {sorted(wanted - params.keys())}"
    if params.keys() - wanted:
        return "isv.TEMPLATE_PARAMS_ILLEGAL", f"not in the template: {sorted(params.keys() - wanted)}"
    return None, {k: str(v) for k, v in params.items()}


@app.post("/carrier/SendSms")
async def carrier_send(body: CarrierSmsIn, authorization: Annotated[str | None, Header()] = None):
    if authorization != f"Bearer {TOKEN}":
        return _carrier_answer("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 403)
    key = body.OutId or f"carrier-{uuid.uuid4().hex}"
    entry_in = MessageIn(to=body.PhoneNumbers[:32], text="-", reference=body.OutId)
    async with lock:
        requests_seen[key] = requests_seen.get(key, 0) + 1
        rule = _take_rule(body.PhoneNumbers)
        if rule is not None and rule.mode != "timeout":
            _record_request(key, entry_in, f"injected_{rule.mode}")
            if rule.mode == "429":
                return _carrier_answer("isv.BUSINESS_LIMIT_CONTROL", "injected: too many messages to this number")
            if rule.mode == "400":
                return _carrier_answer("isv.INVALID_PARAMETERS", "injected: invalid parameters", 400)
            return _carrier_answer("isp.SYSTEM_ERROR", f"injected failure {rule.mode}", int(rule.mode))
        code, found = _carrier_refusal(body)
        _record_request(key, entry_in, code or "accepted")
        if code is not None:
            return _carrier_answer(code, found)
    if rule is not None:  # a slow carrier: accepted, answered late
        await asyncio.sleep(rule.delay_s)
    sign_name, texts = _registered()
    text = f"【{sign_name}】" + PARAM.sub(lambda m: found[m.group(1)], texts[body.TemplateCode])
    response = {
        "Code": "OK",
        "Message": "OK",
        "BizId": f"{uuid.uuid4().int % 10**18}^0",
        "RequestId": str(uuid.uuid4()),
    }
    entry = {
        "received_at": _now(), "idempotency_key": key, "to": body.PhoneNumbers, "text": text,
        "reference": body.OutId, "channel": "carrier", "sign_name": sign_name, "template_code": body.TemplateCode,
        "template_param": found, "segments": segments(text), "response": response,
    }  # fmt: skip
    async with lock:
        with LOG.open("ab") as f:
            f.write(orjson.dumps(entry) + b"\n")
    return JSONResponse(response, 200)


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
