"""The chaos harness's aiokafka kiosk (chaos/kafka_io.py) does not wait for ever on a send the
producer neither acknowledges nor fails: after a broker that led every kiosk.checkins partition was
killed, 118 of 3,000 scans stayed unacknowledged for the whole 10-minute flush (CI-style run of
2026-12-06), and stopping that producer did not return either. A real kiosk times out and reconnects."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from chaos.kafka_io import AiokafkaKiosk
from chaos.plan import Checkin


class StuckProducer:
    """Takes every send and never answers; stopping it never returns."""

    async def start(self) -> None:
        return None

    async def send(self, topic, value, key=None, headers=None) -> asyncio.Future:
        return asyncio.get_running_loop().create_future()

    async def flush(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        await asyncio.Event().wait()


class AnsweringProducer(StuckProducer):
    async def send(self, topic, value, key=None, headers=None) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(partition=0, offset=7))
        return future

    async def flush(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_send_without_an_answer_is_sent_again_through_a_new_producer():
    acked: list[int] = []
    producers = iter([StuckProducer(), AnsweringProducer()])
    kiosk = AiokafkaKiosk.__new__(AiokafkaKiosk)
    kiosk._producer = lambda: next(producers)  # type: ignore[method-assign]
    AiokafkaKiosk.__init__(kiosk, {}, "run1", lambda c, p, o: acked.append(c.seq))
    kiosk.RETRY_DELAY_S, kiosk.STUCK_AFTER_S, kiosk.STOP_TIMEOUT_S = 0.01, 0.2, 0.1
    await kiosk.start()
    try:
        await kiosk.send(Checkin(1, "valid", "aiokafka", b"r-1", b"{}", ("r-1", "s-1"), "c-1"))
        assert kiosk.unacked and not acked
        await asyncio.wait_for(kiosk.flush(timeout_s=30), 10)  # before: waited the whole timeout
        assert acked == [1] and not kiosk.unacked
        assert kiosk.given_up == 1 and kiosk.replaced == 1
    finally:
        await asyncio.wait_for(kiosk.stop(), 5)
