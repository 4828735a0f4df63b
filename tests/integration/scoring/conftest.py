"""Fixtures of scoring's integration tests."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scoring.domain.street import local_day
from tests.support import restart_service

DAY = 86400


class Clock:
    """The running scoring service's clock: shifted by the seconds this file holds."""

    def __init__(self, path: Path) -> None:
        self.path, self.shift = path, 0.0
        path.write_text("0")

    def advance(self, days: float) -> None:
        self.shift += days * DAY
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(self.shift))
        tmp.replace(self.path)  # the service never reads a half-written number

    def today(self):
        return local_day(datetime.now(UTC) + timedelta(seconds=self.shift))


@pytest.fixture(scope="module")
async def clock() -> AsyncIterator[Clock]:
    """Scoring restarted on a clock the test moves (adapters/shifted_clock.py), restarted plainly after."""
    with tempfile.TemporaryDirectory(prefix="ls-clock-") as d:
        shifted = Clock(Path(d) / "shift")
        await restart_service("scoring", signal.SIGTERM, extra_env={"SCORING_TEST_CLOCK_FILE": str(shifted.path)})
        try:
            yield shifted
        finally:
            await restart_service("scoring", signal.SIGTERM)
