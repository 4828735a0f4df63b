"""SMS as Chinese carriers take it (Aliyun dysms `SendSms`, Tencent Cloud `SendSms`): the sender
names a template registered (and reviewed) beforehand and its parameters, plus a registered
signature; the carrier renders the text and puts 【signature】 in front.

The registered texts live in the street's reference data (`sms_templates.yaml`: template code and
`${param}` text per message kind and language). notify's own templates stay the one source of the
words: a registered text must be what `registered_text` derives from the template file, and
`SmsRegistry.check` refuses to start otherwise, so the generic gateway and the carrier cannot say
different things. The parameters are read back from the text notify rendered and stored (the
registered text as a pattern), so what the carrier renders is exactly what notify's API shows and
what a resend after a crash sends again.

Authentication is simplified to a bearer key here; a real account signs each request (Aliyun
ACS3-HMAC-SHA256, Tencent TC3-HMAC-SHA256), which a production adapter adds around `_post`."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from services.notify.adapters.channels import RETRYABLE_HTTP, DeliveryError, Outgoing

SIGNATURE_FIELD = "{street_name}"
_FIELD = re.compile(r"\{(\w+)\}")
_PARAM = re.compile(r"\$\{(\w+)\}")
# Carrier answers worth retrying: throttling (per number, per account), an account out of credit
# (an operator tops it up) and the carrier's own faults (isp.*). Every other isv.* code is about the
# request itself (signature, template, parameters, number): sending it again changes nothing.
RETRYABLE_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.AMOUNT_NOT_ENOUGH", "Throttling.User"}

# Segments as Chinese carriers bill them: every character counts one (signature included); up to
# 70 is one SMS, a longer one goes in parts of 67 (the rest carries the concatenation header).
SINGLE_SEGMENT = 70
MULTIPART_SEGMENT = 67


def segments(text: str) -> int:
    # UCS-2: a character outside the BMP (an emoji) takes two code units
    n = len(text.encode("utf-16-le")) // 2
    return 1 if n <= SINGLE_SEGMENT else math.ceil(n / MULTIPART_SEGMENT)


def registered_text(template: str) -> str:
    """The text to register for a notify template file: its body without the leading 【{street_name}】
    (the carrier adds the signature) and with `${name}` for `{name}`."""
    _, _, body = template.partition("\n\n") if template.startswith("Subject:") else ("", "", template)
    body = body.strip().removeprefix(f"【{SIGNATURE_FIELD}】")
    return _FIELD.sub(r"${\1}", body)


@dataclass(frozen=True)
class Registration:
    code: str
    text: str

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PARAM.findall(self.text)))

    def pattern(self) -> re.Pattern[str]:
        parts, seen, last = [r"(?:【[^】]*】)?"], set(), 0
        for m in _PARAM.finditer(self.text):
            parts.append(re.escape(self.text[last : m.start()]))
            name = m.group(1)
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
            last = m.end()
        parts.append(re.escape(self.text[last:]))
        return re.compile("".join(parts), re.DOTALL)

    def params_of(self, body: str) -> dict[str, str] | None:
        """The parameters that render `body` from this text (None: the body is not this text's)."""
        m = self.pattern().fullmatch(body.strip())
        return None if m is None else {name: m.group(name) for name in self.params}

    def render(self, sign_name: str, params: dict[str, str]) -> str:
        return f"【{sign_name}】" + _PARAM.sub(lambda m: params[m.group(1)], self.text)


class SmsRegistry:
    """The street's carrier account: its signature and the registered template per kind and language."""

    def __init__(self, sign_name: str, templates: dict[tuple[str, str], Registration]) -> None:
        self.sign_name = sign_name
        self.templates = templates

    @classmethod
    def load(cls, path: Path) -> SmsRegistry:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        templates = {
            (kind, language): Registration(str(entry["code"]), str(entry["text"]))
            for kind, languages in data["templates"].items()
            for language, entry in languages.items()
        }
        return cls(str(data["sign_name"]), templates)

    def get(self, kind: str, language: str) -> Registration | None:
        return self.templates.get((kind, language))

    def drift(self, texts: dict[tuple[str, str], str]) -> list[str]:
        """What differs between notify's templates ((language, kind) -> file text) and the registered
        texts: an empty list when every message notify can render is registered word for word."""
        problems = []
        for (language, kind), template in sorted(texts.items()):
            expected = registered_text(template)
            registration = self.get(kind, language)
            if registration is None:
                problems.append(f"{kind} ({language}) is not registered; register: {expected}")
            elif registration.text != expected:
                problems.append(
                    f"{kind} ({language}) {registration.code} says {registration.text!r}, template says {expected!r}"
                )
        return problems

    def check(self, texts: dict[tuple[str, str], str]) -> None:
        problems = self.drift(texts)
        if problems:
            raise ValueError("SMS templates differ from those registered with the carrier:\n" + "\n".join(problems))


def error_for(code: str, message: str, status: int) -> DeliveryError:
    reason = "carrier_" + re.sub(r"[^a-z0-9]+", "_", code.rsplit(".", 1)[-1].lower()).strip("_")
    retry = code in RETRYABLE_CODES or code.startswith(("isp.", "Throttling")) or status >= 500
    retry = retry or status in RETRYABLE_HTTP
    return DeliveryError(reason, f"{code}: {message}"[:300], permanent=not retry)


class CarrierSms:
    def __init__(self, url: str, access_key: str, registry: SmsRegistry, timeout_s: float) -> None:
        self.url = url
        self.registry = registry
        self._http = httpx.AsyncClient(timeout=timeout_s, headers={"Authorization": f"Bearer {access_key}"})

    def request(self, message: Outgoing) -> dict[str, str]:
        registration = self.registry.get(message.kind, message.language) or self.registry.get(message.kind, "zh-CN")
        if registration is None:
            raise DeliveryError(
                "carrier_unregistered_kind", f"no carrier template for {message.kind!r}", permanent=True
            )
        params = registration.params_of(message.body)
        if params is None:  # rendered from a template edited since: the carrier would say something else
            detail = f"{message.kind}: the stored text is not {registration.code}'s registered text"
            raise DeliveryError("carrier_template_mismatch", detail, permanent=True)
        return {
            "PhoneNumbers": message.address,
            "SignName": self.registry.sign_name,
            "TemplateCode": registration.code,
            "TemplateParam": json.dumps(params, ensure_ascii=False),
            # echoed in delivery receipts; carriers do not de-duplicate on it (see ADR 0018)
            "OutId": message.idempotency_key,
        }

    async def send(self, message: Outgoing) -> str:
        body = self.request(message)
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.TimeoutException as e:
            raise DeliveryError("timeout", f"SMS carrier did not answer: {e!r}", permanent=False) from None
        except httpx.TransportError as e:
            raise DeliveryError("unreachable", f"SMS carrier unreachable: {e!r}", permanent=False) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = str(answer.get("Code") or f"http_{response.status_code}")
        if response.is_success and code == "OK":
            return str(answer.get("BizId", ""))
        raise error_for(code, str(answer.get("Message", response.text[:200])), response.status_code)

    async def close(self) -> None:
        await self._http.aclose()
