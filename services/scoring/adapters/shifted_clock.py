"""A test adapter: the selection's clock shifted by the seconds written in a file, installed only when
`SCORING_TEST_CLOCK_FILE` is set (bootstrap.py), so an integration test can move the running
service past a notice period (公示) without waiting seven days. Production uses the wall clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from shared.events.envelope import utcnow


def shifted_clock(path: str | Path) -> Callable[[], datetime]:
    file = Path(path)

    def now() -> datetime:
        try:
            shift = float(file.read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):  # not written yet, or caught mid-write: unshifted
            shift = 0.0
        return utcnow() + timedelta(seconds=shift)

    return now
