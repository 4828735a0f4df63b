"""The bench finds service processes in /proc while other processes run: a process whose command
line is not UTF-8 (any program may have one) must not stop the memory sampler and the bench."""

from __future__ import annotations

import subprocess
import sys

from bench import env


def test_a_process_with_a_non_utf8_command_line_is_read_not_fatal():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", b"\xff\xfe"])
    try:
        assert "import time" in env._cmdline(other.pid)
        assert other.pid not in [pid for pids in env.all_service_pids().values() for pid in pids]
    finally:
        other.kill()
        other.wait()
