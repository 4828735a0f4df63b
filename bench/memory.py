"""Peak resident memory of each service during the run (sampled from /proc, restarts included)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from bench import env

SERVICES = ("activities", "enrolment", "scoring", "notify")


def status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_mib(pid: int) -> float | None:
    kib = status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


class MemorySampler:
    """Samples VmRSS and VmHWM (the kernel's own high-water mark) of every service process found,
    so a peak between two samples still counts."""

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self.peak_mib: dict[str, float] = dict.fromkeys(SERVICES, 0.0)
        self._task: asyncio.Task | None = None

    def sample(self) -> None:
        found = env.all_service_pids()
        for service in SERVICES:
            for pid in found.get(service, []):
                kib = max(status_kib(pid, "VmHWM") or 0, status_kib(pid, "VmRSS") or 0)
                self.peak_mib[service] = max(self.peak_mib[service], kib / 1024)

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()

    @property
    def max_mib(self) -> float:
        return max(self.peak_mib.values())
