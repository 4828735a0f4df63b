"""A service's background round: run `tick` now and then every `every_s` (sooner when woken), until
stopped. A failed round is logged and the next one tries again: the database or Kafka may be away
for a while, and a round must never take the service down with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self,
        name: str,
        tick: Callable[[], Awaitable[object]],
        every_s: float,
        *,
        wake: asyncio.Event | None = None,
        first_after_s: float = 0.0,
    ) -> None:
        self.name, self.tick, self.every_s, self.first_after_s = name, tick, every_s, first_after_s
        self.wake = wake or asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Starts the rounds; `every_s` 0 (or less) turns them off."""
        if self._task is None and self.every_s > 0:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await self._wait(self.first_after_s)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: the round failed; the next one tries again in %.0f s", self.name, self.every_s)
            await self._wait(self.every_s)

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()
