"""SMS as Chinese carriers take it (issue 15): every zh-CN SMS fits one 70-character segment with the
signature and the longest values a resident can be sent; confirmations and reminders name the
venue; the texts registered with the carrier are notify's templates word for word, so the generic
gateway and the carrier send the same words; the local gateway refuses as a carrier does."""

from __future__ import annotations

import json
import math
from datetime import datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from deploy.demo import dataset
from deploy.local import sms_gateway
from services.notify.adapters import carrier_sms
from services.notify.adapters.carrier_sms import CarrierSms, SmsRegistry, error_for, segments
from services.notify.adapters.channels import DeliveryError, Outgoing
from services.notify.adapters.templates import LANGUAGES, Templates
from services.notify.config import TEMPLATES
from services.notify.domain import model
from services.notify.service_layer.delivery import NAMELESS, format_time, timezone
from shared.reference import load_reference, resolve

REFERENCE = load_reference()
REGISTRY_FILE = resolve("reference/pinghu") / "sms_templates.yaml"
BROADCASTS = set(model.BROADCAST_KINDS.values())  # an operator's free text: billed per 67-character part
TRANSACTIONAL = [k for k in model.KINDS if k not in BROADCASTS]
NAMES_THE_VENUE = ["enrolment_confirmed", "enrolment_promoted", "reminder_24h", "reminder_2h", "session_changed"]


def _longest(*candidates: str) -> str:
    return max(candidates, key=len)


def _worst_values() -> dict[str, str]:
    """The longest value of each field a zh-CN message can show: the demo street's venues and course
    titles (deploy/demo/dataset.py, the reference communities), a two-digit month and day, the
    longest honour name, and long-ish reasons an operator writes."""
    communities = [c.name_zh for c in REFERENCE.communities.values()]
    venues = [f"{c}{kind}{n}" for c in communities for _, kind, _, count in dataset.VENUE_TYPES for n in (count,)]
    cohorts = math.ceil(200 / len(dataset.COURSE_TITLES))  # the demo's 200 courses over its themes
    titles = [f"{zh}（第{cohorts}期）" for pairs in dataset.COURSE_TITLES.values() for zh, _ in pairs]
    tz = timezone("Asia/Shanghai")
    return {
        "street_name": REFERENCE.street.name_zh,
        "course_title": _longest(*titles, NAMELESS["course_title"]["zh-CN"]),
        "venue_name": _longest(*venues, NAMELESS["venue_name"]["zh-CN"]),
        "session_time": format_time(datetime(2026, 12, 27, 19, 30, tzinfo=tz), "zh-CN", tz),
        "position": "128",
        "reason": _longest("讲师因病无法授课", "台风红色预警，全区停课", "场地临时维修无法使用"),
        "honour_name": _longest(*(names["zh-CN"] for names in REFERENCE.honours.values())),
        "period": "2026-Q4",
        "code": "123456",
        "minutes": "10",
    }


def test_the_worst_values_are_the_long_ones_of_the_demo_street():
    values = _worst_values()
    assert values["course_title"] == "平湖文化客厅·摄影（第17期）"
    assert len(values["venue_name"]) == 11 and values["session_time"] == "2026年12月27日（周日）19:30"


@pytest.mark.parametrize("kind", TRANSACTIONAL)
def test_every_zh_sms_fits_one_segment_with_the_signature_and_the_longest_values(kind):
    templates = Templates(TEMPLATES)
    body = model.render(templates.text("zh-CN", kind), _worst_values()).body
    registration = SmsRegistry.load(REGISTRY_FILE).get(kind, "zh-CN")
    by_carrier = registration.render("平湖街道", registration.params_of(body))
    assert body.startswith("【平湖街道】") and by_carrier == body  # the generic gateway gets it signed too
    assert segments(body) == 1, f"{len(body)} characters: {body}"


def test_a_broadcast_is_billed_per_67_character_part():
    message = "学" * 500  # the longest zh-CN broadcast operators may write (entrypoints/http.py)
    body = model.render(Templates(TEMPLATES).text("zh-CN", "announcement"), {**_worst_values(), "message": message})
    assert segments(body.body) == math.ceil((500 + 6) / 67) == 8


def test_segments_count_as_chinese_carriers_bill():
    assert [segments("字" * n) for n in (1, 70, 71, 134, 135)] == [1, 1, 2, 2, 3]
    assert segments("字" * 69 + "🙂") == 2  # outside the BMP: two UCS-2 code units


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", NAMES_THE_VENUE)
def test_every_confirmation_and_reminder_names_the_venue(kind, language):
    assert "venue_name" in model.template_fields(Templates(TEMPLATES).text(language, kind))


def test_every_message_notify_renders_is_registered_word_for_word():
    registry = SmsRegistry.load(REGISTRY_FILE)
    assert registry.drift(Templates(TEMPLATES).texts) == []
    assert registry.sign_name == REFERENCE.street.name_zh == "平湖街道"
    codes = [r.code for r in registry.templates.values()]
    assert len(codes) == len(set(codes))  # a carrier assigns one code per approved text


def test_an_edited_template_that_is_not_registered_stops_carrier_mode():
    texts = dict(Templates(TEMPLATES).texts)
    texts[("zh-CN", "reminder_2h")] = texts[("zh-CN", "reminder_2h")].replace("即将上课", "马上上课")
    registry = SmsRegistry.load(REGISTRY_FILE)
    with pytest.raises(ValueError, match="reminder_2h"):
        registry.check(texts)


def _outgoing(kind: str, language: str, body: str) -> Outgoing:
    return Outgoing(notification_id="n1", resident_id="r1", idempotency_key=f"r1:{kind}:e1",
                    address="+8613912345678", subject="", body=body, language=language,
                    first_attempt_at=datetime(2026, 1, 1), kind=kind)  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", model.KINDS)
def test_the_carrier_renders_what_notify_rendered_from_the_code_and_parameters(kind, language):
    registry = SmsRegistry.load(REGISTRY_FILE)
    values = {**_worst_values(), "message": "学习周开幕：12月1日至7日，各社区学校"}
    body = model.render(Templates(TEMPLATES).text(language, kind), values).body
    request = CarrierSms("http://carrier.invalid", "k", registry, 1.0).request(_outgoing(kind, language, body))
    registration = registry.get(kind, language)
    assert (request["SignName"], request["TemplateCode"]) == ("平湖街道", registration.code)
    params = json.loads(request["TemplateParam"])
    assert set(params) == set(registration.params)
    assert language != "zh-CN" or "street_name" not in params  # the carrier signs: 【平湖街道】
    rendered = registration.render(request["SignName"], params)
    assert rendered == (body if body.startswith("【") else f"【平湖街道】{body}")


def test_a_text_from_an_older_template_is_not_sent_under_another_text():
    registry = SmsRegistry.load(REGISTRY_FILE)
    with pytest.raises(DeliveryError) as e:
        CarrierSms("http://carrier.invalid", "k", registry, 1.0).request(
            _outgoing("enrolment_confirmed", "zh-CN", "您好！您已成功报名「书法入门」，上课时间：明天。")
        )
    assert e.value.permanent and e.value.reason == "carrier_template_mismatch"


def test_carrier_errors_map_to_retry_or_permanent_failure():
    assert error_for("isv.SMS_TEMPLATE_ILLEGAL", "", 200).permanent
    assert error_for("isv.SMS_SIGNATURE_ILLEGAL", "", 200).reason == "carrier_sms_signature_illegal"
    assert error_for("isv.TEMPLATE_MISSING_PARAMETERS", "", 200).permanent
    assert error_for("isv.MOBILE_NUMBER_ILLEGAL", "", 200).permanent
    assert error_for("InvalidAccessKeyId.NotFound", "", 403).permanent
    throttled = error_for("isv.BUSINESS_LIMIT_CONTROL", "", 200)
    assert not throttled.permanent and throttled.reason == "carrier_business_limit_control"
    assert not error_for("isp.SYSTEM_ERROR", "", 500).permanent
    assert not error_for("http_503", "", 503).permanent


# --- the local gateway as the carrier ----------------------------------------------------------------


@pytest.fixture
def carrier(tmp_path, monkeypatch):
    monkeypatch.setattr(sms_gateway, "LOG", tmp_path / "messages.jsonl")
    monkeypatch.setattr(sms_gateway, "REQUESTS", tmp_path / "requests.jsonl")
    with TestClient(sms_gateway.app, headers={"Authorization": f"Bearer {sms_gateway.TOKEN}"}) as http:
        yield http, tmp_path / "messages.jsonl"


def _send(http, **overrides):
    registry = SmsRegistry.load(REGISTRY_FILE)
    params = {
        "course_title": "书法入门（第3期）",
        "session_time": "2026年3月5日（周四）19:00",
        "venue_name": "平湖图书馆分馆1",
    }
    body = {"PhoneNumbers": "+8613912345678", "SignName": "平湖街道",
            "TemplateCode": registry.get("reminder_24h", "zh-CN").code,
            "TemplateParam": json.dumps(params, ensure_ascii=False), "OutId": "r1:reminder_24h:e1"}  # fmt: skip
    return http.post("/carrier/SendSms", json={**body, **overrides}).json()


def test_the_local_carrier_renders_the_registered_text_and_counts_segments(carrier):
    http, log = carrier
    answer = _send(http)
    assert answer["Code"] == "OK" and answer["BizId"]
    [entry] = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert (
        entry["text"]
        == "【平湖街道】明天上课：「书法入门（第3期）」2026年3月5日（周四）19:00，平湖图书馆分馆1。请准时签到。"
    )
    assert (entry["channel"], entry["segments"], entry["idempotency_key"]) == ("carrier", 1, "r1:reminder_24h:e1")


def test_the_local_carrier_refuses_as_a_carrier_does(carrier):
    http, log = carrier
    assert _send(http, SignName="学习街")["Code"] == "isv.SMS_SIGNATURE_ILLEGAL"
    assert _send(http, TemplateCode="SMS_000000000")["Code"] == "isv.SMS_TEMPLATE_ILLEGAL"
    assert _send(http, TemplateParam='{"course_title": "x"}')["Code"] == "isv.TEMPLATE_MISSING_PARAMETERS"
    extra = json.dumps({"course_title": "x", "session_time": "y", "venue_name": "z", "teacher": "w"})
    assert _send(http, TemplateParam=extra)["Code"] == "isv.TEMPLATE_PARAMS_ILLEGAL"
    assert _send(http, TemplateParam="not json")["Code"] == "isv.INVALID_JSON_PARAM"
    assert _send(http, PhoneNumbers="12345")["Code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    assert not log.exists()  # nothing was sent


def test_the_local_carrier_counts_a_long_text_in_67_character_parts(carrier):
    http, log = carrier
    registry = SmsRegistry.load(REGISTRY_FILE)
    message = "学" * 130
    answer = _send(http, TemplateCode=registry.get("announcement", "zh-CN").code,
                   TemplateParam=json.dumps({"message": message}))  # fmt: skip
    assert answer["Code"] == "OK"
    [entry] = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert entry["segments"] == carrier_sms.segments(entry["text"]) == 3  # 136 characters
