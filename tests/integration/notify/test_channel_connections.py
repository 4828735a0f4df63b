"""The channels keep their connections between messages (issue 18): e-mails go over a kept SMTP
connection instead of one connection (greeting, quit) each, and one dropped while idle is
replaced without failing the message; SMS go through one HTTP client whose connections to the
gateway are kept alive."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.notify.adapters.channels import Outgoing, SmsGateway, SmtpMailer
from services.notify.config import mail_from
from shared.reference import load_reference
from tests.integration.notify.helpers import SMS_TOKEN, SMS_URL, mailbox, mails_to, phone, settings
from tests.support import eventually, unique

pytestmark = pytest.mark.integration


def _message(address: str) -> Outgoing:
    return Outgoing(
        notification_id=str(uuid.uuid4()), resident_id=unique("res"), idempotency_key=unique("key"),
        address=address, subject="Test", body="测试 test", language="zh-CN", first_attempt_at=datetime.now(UTC),
    )  # fmt: skip


def _mailer(**kw) -> SmtpMailer:
    s = settings()
    sender = mail_from(s, load_reference(s.reference_dir))
    return SmtpMailer(host=s.smtp_host, port=s.smtp_port, sender=sender, domain=s.mail_domain,
                      timeout_s=10.0, **kw)  # fmt: skip


async def test_e_mails_go_over_one_kept_connection_and_a_dropped_one_is_replaced():
    mailer = _mailer()
    addresses = [mailbox() for _ in range(4)]
    try:
        ids = [await mailer.send(_message(a)) for a in addresses[:3]]
        assert mailer.connections_opened == 1
        [(_, kept)] = mailer._idle
        kept.transport.abort()  # the server (or a firewall) drops it while idle
        ids.append(await mailer.send(_message(addresses[3])))
        assert mailer.connections_opened == 2
    finally:
        await mailer.close()
    for address, message_id in zip(addresses, ids, strict=True):
        mails = await eventually(lambda a=address: mails_to(a), timeout_s=10)
        assert [m["Message-ID"] for m in mails] == [message_id]


async def test_concurrent_e_mails_open_no_more_connections_than_sends_in_flight():
    mailer = _mailer()
    try:
        for _ in range(3):
            await asyncio.gather(*(mailer.send(_message(mailbox())) for _ in range(4)))
        assert mailer.connections_opened <= 4
    finally:
        await mailer.close()


async def test_sms_reuse_the_gateway_connection():
    gateway = SmsGateway(SMS_URL, SMS_TOKEN, 5.0)
    try:
        for _ in range(3):
            await gateway.send(_message(phone()))
        assert gateway.connections_opened == 1  # one kept-alive connection carried all three
    finally:
        await gateway.close()
