"""The bench finds service processes in /proc while other processes run: a process whose command
line is not UTF-8 (any program may have one) must not stop the memory sampler and the bench."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import env


def test_a_process_with_a_non_utf8_command_line_is_read_not_fatal():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", b"\xff\xfe"])
    try:
        # Right after fork the child still shows our command line until it has exec'd.
        deadline = time.monotonic() + 10
        while "import time" not in env._cmdline(other.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "import time" in env._cmdline(other.pid)
        assert other.pid not in [pid for pids in env.all_service_pids().values() for pid in pids]
    finally:
        other.kill()
        other.wait()


def _service_like(cwd) -> subprocess.Popen:
    """A process whose command line ends in `-m services.benchprobe`, as a service's does."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "-m", "services.benchprobe"], cwd=cwd)
    deadline = time.monotonic() + 10
    while "services.benchprobe" not in env._cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def test_only_this_checkouts_services_are_found(tmp_path):
    """The broadcast stage restarts notify: it stopped the notify of a CI run in another clone on
    the same machine (the run then failed at collection, notify refusing connections)."""
    ours, theirs = _service_like(env.ROOT), _service_like(tmp_path)
    try:
        assert env.service_pids("benchprobe") == [ours.pid]
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


def test_another_streets_services_and_the_district_are_not_ours(monkeypatch):
    """`make up STREETS=nanwan` runs Nanwan's services and the district from this checkout, with the
    same command lines: the bench must neither stop nor measure them as the stack's own."""
    ours = _service_like(env.ROOT)
    monkeypatch.setenv("LS_STREET_ID", "nanwan")
    nanwan = _service_like(env.ROOT)
    monkeypatch.delenv("LS_STREET_ID")
    monkeypatch.setenv("SCORING_DISTRICT_STREETS", "pinghu=scoring.index,nanwan")
    district = _service_like(env.ROOT)
    try:
        assert env.service_pids("benchprobe") == [ours.pid]
    finally:
        for proc in (ours, nanwan, district):
            proc.kill()
            proc.wait()
