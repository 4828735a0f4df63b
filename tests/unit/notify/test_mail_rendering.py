"""notify hands an e-mail to a server that takes 8BITMIME as bytes it renders itself (issue 18:
building and flattening an EmailMessage cost ~1 ms of CPU per e-mail). They must be exactly what
aiosmtplib's `send_message` sent before: the EmailMessage (`SmtpMailer.build`) flattened with
`email.policy.SMTP`, to the same envelope sender and recipient."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from services.notify.adapters import channels
from services.notify.adapters.channels import Outgoing, SmtpMailer

SENDERS = [
    "Pinghu Learning Street <learning@pinghu.example>",
    "平湖街道学习型街道 <learning@pinghu.example>",
    '"Learning, Pinghu" <learning@pinghu.example>',
    "learning@pinghu.example",
]
SUBJECTS = [
    "Test",
    "平湖学习周",
    "  spaced  ",
    "=?utf-8?q?looks_encoded?=",
    "Your course " + "very long words " * 8,
    "您报名的课程" * 20,
    "mixed 中文 and English, with: colons; and <brackets>",
]
ADDRESSES = [
    "bench-bcast-r000004@bench.learnstreet.local",
    "A.B+tag@Example.COM",
    "x@y",
    "a" * 60 + "@" + "b" * 20 + ".example",  # too long for one line with its name
    '"quoted local"@example.org',
    "用户@例子.中国",
    "Name <named@example.org>",
]
BODIES = [
    "平湖学习周下周一开幕，欢迎到社区学校报名参加。\n",
    "no newline at the end",
    "windows\r\nline ends\r\n",
    "From the start of a line\nFrom again\n",
    "x" * 1200 + "\n",
    "trailing spaces   \n\n\n",
    "",
]


def _outgoing(**changes) -> Outgoing:
    values = dict(
        notification_id="8f0e0e0e-1111-2222-3333-444455556666",
        resident_id="r1",
        idempotency_key="announcement:r1:b1",
        address="resident@example.org",
        subject="Test",
        body="测试 test\n",
        language="zh-CN",
        first_attempt_at=datetime(2026, 12, 5, 21, 0, tzinfo=UTC),
    )
    return Outgoing(**(values | changes))


def _mailer(sender: str = SENDERS[1], domain: str = "notify.learnstreet.local") -> SmtpMailer:
    return SmtpMailer(host="h", port=1, sender=sender, domain=domain, timeout_s=1)


def _assert_same_as_send_message(mailer: SmtpMailer, message: Outgoing) -> None:
    built = mailer.build(message)
    assert mailer.rendered(message) == flatten_message(built, utf8=False, cte_type="8bit")
    envelope = mailer.plain_envelope(message)
    if envelope is not None:
        assert envelope == (extract_sender(built), extract_recipients(built)[0])
        assert extract_recipients(built) == [message.address]


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_rendered_headers_are_what_send_message_flattened(sender: str, subject: str):
    _assert_same_as_send_message(_mailer(sender), _outgoing(subject=subject))


@pytest.mark.parametrize("address", ADDRESSES)
@pytest.mark.parametrize("body", BODIES)
def test_rendered_addresses_and_bodies_are_what_send_message_flattened(address: str, body: str):
    _assert_same_as_send_message(_mailer(), _outgoing(address=address, body=body, language="en"))


def test_only_plain_ascii_envelopes_take_the_rendered_path():
    mailer = _mailer()
    assert mailer.plain_envelope(_outgoing(address="a.b@example.org")) == ("learning@pinghu.example", "a.b@example.org")
    for address in ('"quoted local"@example.org', "用户@例子.中国", "Name <named@example.org>", "a@b@c"):
        assert mailer.plain_envelope(_outgoing(address=address)) is None


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 12, 5, 21, 0, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    ],
)
def test_rendered_dates_are_what_send_message_flattened(at: datetime):
    _assert_same_as_send_message(_mailer(), _outgoing(first_attempt_at=at))


def test_values_of_the_plain_form_fold_to_themselves():
    """The short cut for per-message headers (no parse) agrees with the standard library on
    random values of the form it takes, including edge cases (hyphens, dots, long values)."""
    rng = random.Random(18)
    atom, label = string.ascii_letters + string.digits + "_+-", string.ascii_letters + string.digits + "-"

    def word(alphabet: str, most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, most)))

    for _ in range(1500):
        address = ".".join(word(atom, 12) for _ in range(rng.randint(1, 3))) + "@"
        address += ".".join(word(label, 12) for _ in range(rng.randint(1, 4)))
        mid = f"<{''.join(rng.choice('0123456789abcdef') for _ in range(rng.randint(1, 64)))}@"
        mid += ".".join(word(label, 15) for _ in range(rng.randint(1, 4))) + ">"
        for name, value in (("To", address), ("Message-ID", mid), ("X-Learnstreet-Notification", word(label, 80))):
            assert channels._header(name, value) == channels._folded(name, value), (name, value)


def test_message_ids_and_notification_ids_are_what_send_message_flattened():
    for domain in ("notify.learnstreet.local", "x", "-odd-.example", "a" * 70 + ".example"):
        _assert_same_as_send_message(_mailer(domain=domain), _outgoing(notification_id="not a uuid, spaces"))


class _Client:
    """What `_send_on` uses of an aiosmtplib connection that already greeted."""

    def __init__(self, extensions: dict[str, str]) -> None:
        self.esmtp_extensions = extensions
        self.is_ehlo_or_helo_needed = False
        self.calls: list[tuple] = []

    def supports_extension(self, name: str) -> bool:
        return name.lower() in self.esmtp_extensions

    async def sendmail(self, sender, recipients, message, *, mail_options=None):
        self.calls.append(("sendmail", sender, recipients, message, mail_options))

    async def send_message(self, message):
        self.calls.append(("send_message", message))

    def close(self) -> None: ...


async def test_a_connection_with_8bitmime_gets_the_rendered_bytes_and_one_without_the_message():
    mailer, message = _mailer(), _outgoing()
    with_8bit, without = _Client({"8bitmime": ""}), _Client({})
    await channels._send_on(with_8bit, channels._Mail(mailer, message))
    await channels._send_on(without, channels._Mail(mailer, message))
    assert with_8bit.calls == [
        ("sendmail", "learning@pinghu.example", [message.address], mailer.rendered(message), ["BODY=8BITMIME"])
    ]
    [(kind, sent)] = without.calls
    assert kind == "send_message" and bytes(sent) == bytes(mailer.build(message))
    assert channels._Mail(mailer, message).message_id == str(mailer.build(message)["Message-ID"])
