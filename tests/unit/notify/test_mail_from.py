"""The sender of notify's e-mails names the street from its reference data (LS_REFERENCE_DIR), not
a default naming Pinghu; NOTIFY_MAIL_FROM, when given, wins. No template names a street literally."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parseaddr
from pathlib import Path

import pytest

from services.notify.adapters.carrier_sms import SmsRegistry
from services.notify.adapters.channels import Outgoing
from services.notify.adapters.templates import Templates
from services.notify.bootstrap import build_channels
from services.notify.config import TEMPLATES, settings
from shared.reference import LANGUAGES, ROOT


@pytest.fixture
def notify_env(monkeypatch):
    for key, value in {"NOTIFY_KAFKA_USERNAME": "notify", "NOTIFY_KAFKA_PASSWORD": "pw", "NOTIFY_HTTP_PORT": "1",
                       "NOTIFY_DATABASE_URL": "postgresql://n:p@127.0.0.1:1/notify", "LS_JWT_SECRET": "k" * 40,
                       "LS_REFERENCE_DIR": "reference/pinghu"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NOTIFY_MAIL_FROM", raising=False)
    monkeypatch.delenv("NOTIFY_SMS_PROVIDER", raising=False)
    return monkeypatch


def _mail(sender_settings) -> str:
    mailer = build_channels(sender_settings).by_name["email"]
    message = Outgoing(notification_id="n1", resident_id="r1", idempotency_key="k1", address="r@example.org",
                       subject="s", body="b", language="zh-CN", first_attempt_at=datetime(2026, 12, 5, tzinfo=UTC),
                       kind="reminder_24h")  # fmt: skip
    return mailer.build(message)


def test_the_sender_is_the_streets_name_from_its_reference_data(notify_env):
    mail = _mail(settings())
    assert parseaddr(str(mail["From"])) == ("平湖街道学习型街道", "learning@pinghu.example")
    raw = mail.as_bytes()
    assert raw.split(b"\nTo:")[0].isascii() and b"=?utf-8?" in raw  # the display name travels encoded (RFC 2047)
    sent = message_from_bytes(raw, policy=policy.default)
    assert (sent["From"].addresses[0].display_name, sent["From"].addresses[0].addr_spec) == (
        "平湖街道学习型街道", "learning@pinghu.example")  # fmt: skip


def test_another_street_sends_under_its_own_name(notify_env, tmp_path: Path):
    street = tmp_path / "dawang"
    street.mkdir()
    (street / "communities.yaml").write_text(
        "street: {id: dawang, name_zh: 大望街道, name_en: Dawang Street, population: 1000}\n"
        "communities: [{id: a1, name_zh: 甲, name_en: A, population: 1000}]\nthemes: []\n",
        encoding="utf-8",
    )
    notify_env.setenv("LS_REFERENCE_DIR", str(street))
    assert parseaddr(str(_mail(settings())["From"])) == ("大望街道学习型街道", "learning@dawang.example")


def test_an_explicit_mail_from_wins(notify_env):
    notify_env.setenv("NOTIFY_MAIL_FROM", "Learning Office <office@street.example>")
    assert parseaddr(str(_mail(settings())["From"])) == ("Learning Office", "office@street.example")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_template_names_a_street_literally(language):
    for path in sorted((TEMPLATES / language).glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        assert "Pinghu" not in text and "平湖" not in text, f"{path.name}: use {{street_name}}"


@pytest.mark.parametrize("street", sorted(p.parent.name for p in (ROOT / "reference").glob("*/sms_templates.yaml")))
def test_every_streets_carrier_registration_says_what_the_templates_say(street):
    # a street's registered texts follow the templates (which name no street), so no street's SMS
    # names another: reference/nanwan once kept "the Pinghu learning street"
    registry = SmsRegistry.load(ROOT / "reference" / street / "sms_templates.yaml")
    assert registry.drift(Templates(TEMPLATES).texts) == []
