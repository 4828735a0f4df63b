"""Notify with several instances at once: one SMS request per idempotency key at the gateway
through rebalances, rolling restarts and a zombie instance.

The gateway de-duplicates by key (a real carrier does not), so every test counts the requests it
*received* for a key (`/admin/requests`, counted before its de-duplication), not the messages it
accepted: a second request for a key is a second SMS to the resident.

Where a duplicate could come from, across two instances:
- consuming: during a rebalance both instances may apply the same events; the inbox and the
  unique idempotency key make that one notification row (`test_rebalances_...`);
- delivering: a worker claims a row (`sending`, a lease), sends, records the outcome. Another
  instance takes the row over only once the lease has run out. A worker that was paused past its
  lease (SIGSTOP, a stalled event loop, a slow provider ahead of it in its own queue) must not
  send what another worker took over (`test_a_worker_resuming_after_its_lease_...`). A pause
  *during* the gateway's round trip, or between its answer and the record, cannot be told apart
  from a crash: the row is sent again with the same key (tests/integration/notify/test_crash.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import asyncpg
import httpx
import pytest

from services.notify.adapters.channels import DeliveryError, Outgoing
from services.notify.service_layer import handlers
from services.notify.service_layer.delivery import Channels
from shared.events.catalogue import EnrolmentConfirmed
from tests.integration.notify.helpers import (
    FakeClock,
    InProcess,
    confirmed,
    contact,
    future_shanghai,
    gateway_requests,
    phone,
    publish,
    sms_to,
)
from tests.integration.replicas import Replicas, extra_instances
from tests.support import env, eventually, restart_service, unique

pytestmark = pytest.mark.integration


def key_of(event: EnrolmentConfirmed) -> str:
    return f"{event.resident_id}:enrolment_confirmed:{event.enrolment_id}"


class Stalled:
    """Channels whose first send hangs until released and then times out without reaching the
    provider: a slow provider holding the worker's only send slot, so the worker's other claimed
    messages wait in its own queue."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.first = True

    async def send(self, channel: str, message: Outgoing) -> str:
        if self.first:
            self.first = False
            self.holding.set()
            await self.release.wait()
            raise DeliveryError("timeout", "provider did not answer", permanent=False)
        return await self.channels.send(channel, message)

    async def close(self) -> None:
        await self.channels.close()


async def test_a_worker_resuming_after_its_lease_ran_out_sends_nothing_another_worker_took_over(pool):
    # Two delivery workers ("instances" A and B) on the real database and gateway, one fake clock
    # days ahead (the service's own workers never see these rows due). A claims three messages
    # with one send slot; its first send hangs, the other two wait behind it; meanwhile A's lease
    # runs out and B takes all three over and sends them. When A resumes it must not send again.
    clock = FakeClock(future_shanghai(10))
    residents, numbers = [unique("res") for _ in range(3)], [phone() for _ in range(3)]
    a = InProcess(pool, clock, residents, send_concurrency=1, lease_s=60)
    b = InProcess(pool, clock, residents, lease_s=60)
    stalled = Stalled(a.worker.channels)
    a.worker.channels = stalled
    events = [confirmed(r) for r in residents]
    for resident, number, event in zip(residents, numbers, events, strict=True):
        await a.apply(handlers.on_contact_changed, contact(resident, phone=number))
        await a.apply(handlers.on_enrolment_confirmed, event)

    round_a = asyncio.create_task(a.worker.run_once())
    try:
        await asyncio.wait_for(stalled.holding.wait(), 10)
        clock.advance(seconds=61)  # A's lease has run out
        assert await b.worker.run_once() == 3
        for resident in residents:
            assert (await b.row(resident, "enrolment_confirmed"))["status"] == "sent"
        stalled.release.set()  # A resumes
        await asyncio.wait_for(round_a, 30)
    finally:
        stalled.release.set()
        await asyncio.gather(round_a, return_exceptions=True)
        await a.worker.channels.close()
        await b.worker.channels.close()

    assert [await gateway_requests(key_of(e)) for e in events] == [1, 1, 1]
    for resident, number in zip(residents, numbers, strict=True):
        row = await b.row(resident, "enrolment_confirmed")
        assert (row["status"], row["attempts"]) == ("sent", 2)  # A's claim, then B's
        assert len(await sms_to(number)) == 1


# --- real instances -------------------------------------------------------------------------------


async def _flow(n: int, every_s: float) -> list[EnrolmentConfirmed]:
    """`n` residents with an SMS contact, then their confirmed enrolments, published at a pace."""
    residents = [unique("res") for _ in range(n)]
    await publish("enrolment", *(contact(r, phone=phone()) for r in residents))
    events = []
    for resident in residents:
        event = confirmed(resident, starts_in=timedelta(days=5))
        await publish("enrolment", event)
        events.append(event)
        await asyncio.sleep(every_s)  # a steady flow, so rebalances happen while events arrive
    return events


async def _rows(keys: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(env()["NOTIFY_DATABASE_URL"])
    try:
        return await conn.fetch(
            "SELECT idempotency_key, status, attempts FROM notifications WHERE idempotency_key = ANY($1::text[])",
            keys,
        )
    finally:
        await conn.close()


async def _all_sent(keys: list[str]) -> bool:
    rows = await _rows(keys)
    return len(rows) == len(keys) and all(r["status"] == "sent" for r in rows)


async def _assert_each_sent_once(events: list[EnrolmentConfirmed]) -> None:
    keys = [key_of(e) for e in events]
    await eventually(lambda: _all_sent(keys), timeout_s=40, every_s=0.5)
    rows = await _rows(keys)
    assert sorted(r["idempotency_key"] for r in rows) == sorted(keys)  # one row per key
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    requests = await asyncio.gather(*(gateway_requests(k) for k in keys))
    assert {k: n for k, n in zip(keys, requests, strict=True) if n != 1} == {}


@pytest.mark.parametrize("extra", [1, 2], ids=["2-instances", "3-instances"])
async def test_rebalances_while_events_flow_send_each_notification_once(extra):
    # Instances join while events flow, then leave (SIGTERM, a rolling restart's step): every
    # join and leave moves partitions between instances in the middle of the flow.
    flow = asyncio.create_task(_flow(60, every_s=0.1))
    try:
        async with extra_instances("notify", extra, wait_rebalanced=False) as group:
            await group.wait_rebalanced()
            for instance in group.instances:
                await instance.stop()
                await group.wait_rebalanced()
        events = await flow
    finally:
        flow.cancel()
    await _assert_each_sent_once(events)


async def test_a_rolling_restart_while_events_flow_sends_each_notification_once():
    # The stack's instance is restarted (SIGTERM, then started again) while a second one runs,
    # then the second one leaves: every instance is replaced once with events in flight.
    flow = asyncio.create_task(_flow(60, every_s=0.1))
    try:
        async with extra_instances("notify", 1) as group:
            await restart_service("notify", signal.SIGTERM)
            await group.wait_rebalanced()
            await group.instances[0].stop()
        events = await flow
    finally:
        flow.cancel()
    await _assert_each_sent_once(events)


async def _sent_by(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("learnstreet_notify_messages_total{") and 'status="sent"' in line
    )


async def _group_is(group: Replicas, state: str, members: int, timeout_s: float = 40.0) -> None:
    async def probe() -> bool:
        return await group.group_members() == (state, members)

    await eventually(probe, timeout_s=timeout_s, every_s=0.3)


async def test_a_zombie_instance_past_its_max_poll_interval_sends_no_duplicates():
    # The second instance is frozen (SIGSTOP) in the middle of the flow, once it has sent some of
    # it, stays frozen until the group has expelled it and given its partitions to the others,
    # then thaws (SIGCONT) holding whatever batch and claims it had: its late work must not add a
    # single request at the gateway.
    async with extra_instances("notify", 1, extra_env={"NOTIFY_MAX_POLL_INTERVAL_MS": "6000"}) as group:
        [zombie] = group.instances
        assert zombie.process is not None
        _, members = await group.group_members()
        before = await _sent_by(zombie.url)
        flow = asyncio.create_task(_flow(60, every_s=0.1))
        try:
            await eventually(lambda: _more(zombie.url, before), timeout_s=20)
            os.killpg(zombie.process.pid, signal.SIGSTOP)
            try:
                await _group_is(group, "Stable", members - 1)
            finally:
                os.killpg(zombie.process.pid, signal.SIGCONT)
            await _group_is(group, "Stable", members)
            events = await flow
        finally:
            flow.cancel()
        await _assert_each_sent_once(events)


async def _more(url: str, than: float) -> bool:
    return await _sent_by(url) > than
