"""The delivery worker records the outcomes of a claimed batch together (issue 18): one transaction
for the claim (attempts recorded before anything is sent), one for all the batch's outcomes and
their events. A record that does not commit loses nothing: the batch's rows stay `sending` and go
again under the same idempotency keys once their lease runs out, and the gateway answers each
repeat with the original message."""

from __future__ import annotations

import asyncpg
import pytest

from services.notify.adapters import repository
from services.notify.service_layer import handlers
from tests.integration.notify.helpers import (
    FakeClock,
    InProcess,
    confirmed,
    contact,
    future_shanghai,
    gateway_requests,
    phone,
    sms_to,
)
from tests.support import unique

pytestmark = pytest.mark.integration


async def _worker(pool: asyncpg.Pool, n: int) -> tuple[InProcess, list[str], list[str], list[str]]:
    clock = FakeClock(future_shanghai(10))  # days ahead: the service's own worker leaves these rows alone
    residents, numbers = [unique("res") for _ in range(n)], [phone() for _ in range(n)]
    w = InProcess(pool, clock, residents, lease_s=60)
    keys = []
    for resident, number in zip(residents, numbers, strict=True):
        event = confirmed(resident)
        await w.apply(handlers.on_contact_changed, contact(resident, phone=number))
        await w.apply(handlers.on_enrolment_confirmed, event)
        keys.append(f"{resident}:enrolment_confirmed:{event.enrolment_id}")
    return w, residents, numbers, keys


async def test_a_batch_is_claimed_in_one_transaction_and_its_outcomes_recorded_in_another(pool):
    w, residents, _, keys = await _worker(pool, 5)
    opened = 0
    factory = w.worker.uow_factory

    def counting():
        nonlocal opened
        opened += 1
        return factory()

    w.worker.uow_factory = counting
    try:
        assert await w.worker.run_once() == 5
    finally:
        await w.worker.channels.close()
    assert opened == 2  # the claim, then the five outcomes (before: one more per message)
    for resident in residents:
        row = await w.row(resident, "enrolment_confirmed")
        assert (row["status"], row["attempts"], row["claim_token"]) == ("sent", 1, None)
        assert row["sent_at"] is not None and row["provider_id"]
    assert [await gateway_requests(k) for k in keys] == [1] * 5


async def test_a_batch_whose_record_failed_is_sent_again_under_the_same_keys_and_delivered_once(pool, monkeypatch):
    w, residents, numbers, keys = await _worker(pool, 3)

    async def database_gone(*args, **kwargs):
        raise ConnectionResetError("the database went away before the outcomes were recorded")

    try:
        with monkeypatch.context() as patched:
            patched.setattr(repository, "finish_sent", database_gone)
            with pytest.raises(ConnectionResetError):
                await w.worker.run_once()
        for resident in residents:  # sent, not recorded: still `sending` under the lease
            row = await w.row(resident, "enrolment_confirmed")
            assert (row["status"], row["attempts"]) == ("sending", 1)
        assert await w.worker.run_once() == 0  # the lease holds: not due yet
        w.clock.advance(seconds=61)
        assert await w.worker.run_once() == 3
    finally:
        await w.worker.channels.close()
    for resident in residents:
        row = await w.row(resident, "enrolment_confirmed")
        assert (row["status"], row["attempts"]) == ("sent", 2)
    assert [await gateway_requests(k) for k in keys] == [2, 2, 2]  # the same key twice ...
    assert [len(await sms_to(n)) for n in numbers] == [1, 1, 1]  # ... one SMS each
