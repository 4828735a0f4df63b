"""The guard before each integration module mends what an earlier test left down (CI stop 23: a
chaos run left the stack broken and every later test waited out its own timeout)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.support import ROOT, service_pid, stop_service, wait_ready_service

pytestmark = pytest.mark.integration


async def test_a_service_left_down_is_started_again_before_the_next_module():
    await stop_service("notify", signal.SIGKILL)
    stopped_pid = service_pid("notify")
    # a fresh pytest run of one quick module: its guard finds notify down and starts it again
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/integration/test_stack.py::test_topics_have_the_catalogues_partitions"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-2000:]
        assert "notify does not answer /readyz" in child.stdout
        assert "the stack answers again" in child.stdout
        assert service_pid("notify") not in (None, stopped_pid)
    finally:
        await wait_ready_service("notify", timeout_s=120)  # the next module must find it up either way
