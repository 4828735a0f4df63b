"""A notify process killed after a channel accepted a message but before it recorded that.

With NOTIFY_FAULT_CRASH_AFTER_SEND=<resident id> the service's bootstrap wraps its channels in
the crash-test adapter (services/notify/adapters/faults.py), which SIGKILLs the process right
after sending to that resident. On restart the row is still `sending`; once its
lease (NOTIFY_LEASE_S, short here) runs out it is sent again with the same idempotency key and the
same stored text. The SMS gateway answers with the original response (one SMS); the e-mail may
arrive a second time, byte-identical, with the same Message-ID."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.integration.notify.helpers import (
    confirmed,
    contact,
    gateway_requests,
    mailbox,
    mails_to,
    phone,
    publish,
    sms_to,
    wait_status,
)
from tests.support import env, eventually, restart_service, service_pid, start_service, unique

pytestmark = pytest.mark.integration

SHORT_LEASE = {"NOTIFY_LEASE_S": "2"}


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


async def _died(pid: int) -> bool:
    return _gone(pid)


async def _row(resident: str) -> asyncpg.Record:
    conn = await asyncpg.connect(env()["NOTIFY_DATABASE_URL"])
    try:
        return await conn.fetchrow(
            "SELECT * FROM notifications WHERE resident_id = $1 AND kind = 'enrolment_confirmed'", resident
        )
    finally:
        await conn.close()


async def test_crash_between_send_and_record_gives_one_sms_and_at_most_an_identical_email():
    sms_resident, number = unique("res"), phone()
    mail_resident, address = unique("res"), mailbox()
    try:
        await restart_service(
            "notify", signal.SIGKILL, extra_env={"NOTIFY_FAULT_CRASH_AFTER_SEND": sms_resident, **SHORT_LEASE}
        )
        pid = service_pid("notify")
        enrolment = confirmed(sms_resident, starts_in=timedelta(days=5))
        await publish("enrolment", contact(sms_resident, phone=number), enrolment)
        await eventually(lambda: _died(pid), timeout_s=90)
        assert len(await sms_to(number)) == 1  # the gateway accepted it before the process died
        row = await _row(sms_resident)
        assert (row["status"], row["attempts"]) == ("sending", 1)  # the attempt was recorded, the outcome not

        # restart (crashing for the e-mail resident this time): the SMS is retried and recorded
        await start_service("notify", extra_env={"NOTIFY_FAULT_CRASH_AFTER_SEND": mail_resident, **SHORT_LEASE})
        pid = service_pid("notify")
        await wait_status(sms_resident, "enrolment_confirmed", "sent", timeout_s=90)
        key = f"{sms_resident}:enrolment_confirmed:{enrolment.enrolment_id}"
        assert await gateway_requests(key) == 2  # sent twice with the same key ...
        assert len(await sms_to(number)) == 1  # ... delivered once
        assert (await _row(sms_resident))["attempts"] == 2

        await publish(
            "enrolment",
            contact(mail_resident, email=address, preferred_channel="email"),
            confirmed(mail_resident, starts_in=timedelta(days=5)),
        )
        await eventually(lambda: _died(pid), timeout_s=90)
        assert len(await mails_to(address)) == 1
        await start_service("notify", extra_env=SHORT_LEASE)
        await wait_status(mail_resident, "enrolment_confirmed", "sent", timeout_s=90)
        mails = await mails_to(address)
        assert len(mails) == 2  # resent after the crash, and identical
        assert mails[0]["Message-ID"] == mails[1]["Message-ID"]
        assert mails[0].as_bytes() == mails[1].as_bytes()
    finally:
        await restart_service("notify", signal.SIGTERM)  # back to the normal configuration
