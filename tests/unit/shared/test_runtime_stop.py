"""A service's graceful stop says in its log which step it is waiting for: once, after broker
faults, notify's stop overran the stack's grace and was cut by SIGKILL with nothing in its log
after "Waiting for application shutdown"."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from shared.runtime import Runtime


class _Part:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.stopped = delay, False

    async def stop(self) -> None:
        await asyncio.sleep(self.delay)
        self.stopped = True


def _runtime(consumers_delay: float) -> Runtime:
    runtime = object.__new__(Runtime)
    runtime.settings = SimpleNamespace(service="probe")
    runtime.retention, runtime.relay, runtime.producer = _Part(), _Part(), _Part()
    runtime.broker = _Part(consumers_delay)
    runtime.pool = None
    runtime._on_stop = []
    return runtime


def test_a_slow_stop_step_is_named_while_it_waits_and_when_it_ends(caplog) -> None:
    runtime = _runtime(consumers_delay=0.3)
    runtime.STOP_STEP_SLOW_S = 0.1
    with caplog.at_level(logging.WARNING, logger="shared.runtime"):
        asyncio.run(runtime.stop())
    messages = [r.getMessage() for r in caplog.records]
    assert "probe stop: still waiting for the consumers after 0 s" in messages
    assert any(m.startswith("probe stop: the consumers took 0.") for m in messages)
    assert not any("relay" in m or "producer" in m for m in messages)  # the quick steps say nothing
    assert runtime.broker.stopped and runtime.producer.stopped and runtime.relay.stopped


def test_a_quick_stop_logs_no_warning(caplog) -> None:
    runtime = _runtime(consumers_delay=0.0)
    with caplog.at_level(logging.WARNING, logger="shared.runtime"):
        asyncio.run(runtime.stop())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
