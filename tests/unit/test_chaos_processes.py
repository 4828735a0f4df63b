"""The chaos harness finds the services it kills and restarts by their command line, and only
those started in its own checkout: run beside another clone's stack on the same machine (a CI
run next to a developer's), it killed that stack's activities and scoring."""

from __future__ import annotations

import os
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


def test_another_streets_services_and_the_district_are_not_killed(tmp_path, monkeypatch):
    """`make up STREETS=nanwan` runs Nanwan's services and the district from the same checkout with
    the same command lines: the chaos harness must not take them for the stack's own."""
    package = tmp_path / "services" / "probe"
    package.mkdir(parents=True)
    (tmp_path / "services" / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import time\ntime.sleep(60)\n")
    started = {}
    for label, extra in (("own", {}), ("nanwan", {"LS_STREET_ID": "nanwan"}),
                         ("district", {"SCORING_DISTRICT_STREETS": "pinghu=scoring.index,nanwan"})):  # fmt: skip
        environ = {k: v for k, v in os.environ.items() if k not in ("LS_STREET_ID", "SCORING_DISTRICT_STREETS")}
        argv = [sys.executable, "-m", "services.probe"]
        started[label] = subprocess.Popen(argv, cwd=tmp_path, env={**environ, **extra})
    try:
        monkeypatch.setattr(processes, "ROOT", tmp_path)
        monkeypatch.delenv("LS_STREET_ID", raising=False)
        deadline = time.monotonic() + 10
        while len(processes.service_pids("probe")) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert processes.service_pids("probe") == [started["own"].pid]
    finally:
        for process in started.values():
            process.kill()
            process.wait()
