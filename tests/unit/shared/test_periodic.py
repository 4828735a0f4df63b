"""The services' background rounds (shared/periodic.py): first round at once (or after a delay),
again when woken, on after a failed round, none when turned off."""

from __future__ import annotations

import asyncio

from shared.periodic import Periodic


async def _until(condition, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the timeout")


async def test_a_round_at_once_then_one_when_woken_and_on_after_a_failure():
    calls: list[int] = []
    woken = asyncio.Event()

    async def tick():
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("the database is away")

    rounds = Periodic("test-rounds", tick, every_s=3600, wake=woken)
    rounds.start()
    try:
        await _until(lambda: calls == [0])  # at once, not after an hour
        woken.set()
        await _until(lambda: calls == [0, 1])  # woken: the round failed
        woken.set()
        await _until(lambda: calls == [0, 1, 2])  # and the next one still came
        await asyncio.sleep(0.05)
        assert calls == [0, 1, 2]  # nothing more until the hour or the next wake
    finally:
        await rounds.stop()


async def test_the_first_round_can_wait_one_interval_and_zero_turns_the_rounds_off():
    loop = asyncio.get_running_loop()
    started = loop.time()
    later_calls: list[float] = []
    off_calls: list[float] = []

    async def later_tick():
        later_calls.append(loop.time() - started)

    async def off_tick():
        off_calls.append(loop.time() - started)

    later = Periodic("later", later_tick, every_s=0.3, first_after_s=0.3)
    off = Periodic("off", off_tick, every_s=0)
    later.start()
    off.start()
    try:
        for _ in range(100):
            if later_calls:
                break
            await asyncio.sleep(0.02)
        assert later_calls and later_calls[0] >= 0.3  # not at once: after one interval
        assert off_calls == []
    finally:
        await later.stop()
        await off.stop()
