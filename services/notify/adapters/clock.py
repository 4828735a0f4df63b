"""Time as the delivery worker sees it: injected, so tests can drive quiet hours and retries
(their fake clock is `tests.integration.notify.helpers.FakeClock`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
