"""The chaos harness finds the services it kills and restarts by their command line, and only
those started in its own checkout: run beside another clone's stack on the same machine (a CI
run next to a developer's), it killed that stack's activities and scoring."""

from __future__ import annotations

import subprocess
import sys
import time

from chaos import processes


def test_only_services_started_in_this_checkout_are_found(tmp_path, monkeypatch):
    package = tmp_path / "services" / "probe"
    package.mkdir(parents=True)
    (tmp_path / "services" / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import time\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-m", "services.probe"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while "services.probe" not in processes._cmdline(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.service_pids("probe") == []  # another checkout's
        monkeypatch.setattr(processes, "ROOT", tmp_path)
        assert processes.service_pids("probe") == [process.pid]
    finally:
        process.kill()
        process.wait()
