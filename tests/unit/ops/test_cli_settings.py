"""Command-line tools' settings (shared/local_env.py): the environment alone is enough, the
credentials file alone is enough, and a setting found in neither is one line naming it.

`learnstreet` runs from a copy of `shared/` in a temporary directory: like an installation with no
`.local/credentials.env` beside it, whatever the checkout holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared import local_env
from shared.settings import ServiceSettings, load_settings

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`shared/` alone in a directory of its own (no .local/ beside it)."""
    where = tmp_path_factory.mktemp("installed")
    shutil.copytree(ROOT / "shared", where / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    return where


def clean_env(**variables: str) -> dict[str, str]:
    """A fresh shell: no learnstreet variable unless given."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **variables}


def learnstreet(installed: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "shared.cli", *args],
        cwd=installed,
        env={**env, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_admin_password_is_one_line_naming_it(installed):
    res = learnstreet(installed, "dlq", "list", "kiosk.checkins", env=clean_env(KAFKA_BOOTSTRAP="127.0.0.1:1"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "KAFKA_ADMIN_PASSWORD is not set" in lines[0] and "export KAFKA_ADMIN_PASSWORD=" in lines[0]


def test_the_kafka_settings_come_from_the_environment_without_a_credentials_file(installed, monkeypatch):
    monkeypatch.setenv("LS_CREDENTIALS_FILE", str(installed / "nowhere.env"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka-1.example:9092")
    monkeypatch.setenv("KAFKA_ADMIN_USERNAME", "ops-admin")
    monkeypatch.setenv("KAFKA_ADMIN_PASSWORD", "s3cret")
    kwargs = local_env.kafka_client_kwargs("admin")
    assert (kwargs["bootstrap_servers"], kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
        "kafka-1.example:9092",
        "ops-admin",
        "s3cret",
    )


def test_the_environment_wins_over_the_credentials_file(tmp_path, monkeypatch):
    file = tmp_path / "credentials.env"
    file.write_text("KAFKA_BOOTSTRAP=127.0.0.1:19092\nKAFKA_ADMIN_PASSWORD='from-file'\n")
    monkeypatch.setenv("LS_CREDENTIALS_FILE", str(file))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "elsewhere:9092")
    monkeypatch.delenv("KAFKA_ADMIN_PASSWORD", raising=False)
    kwargs = local_env.kafka_client_kwargs("admin")
    assert (kwargs["bootstrap_servers"], kwargs["sasl_plain_password"]) == ("elsewhere:9092", "from-file")


def test_a_service_command_line_reads_the_credentials_file_like_the_stack_gives_it(tmp_path, monkeypatch):
    file = tmp_path / "credentials.env"
    file.write_text(
        "SCORING_KAFKA_USERNAME=scoring\nSCORING_KAFKA_PASSWORD=pw\nSCORING_HTTP_PORT=8103\n"
        "SCORING_DATABASE_URL=postgresql://s:p@127.0.0.1:55432/scoring\nLS_JWT_SECRET=" + "k" * 40 + "\n"
    )
    for name in list(os.environ):
        if name.startswith(("SCORING_", "LS_", "KAFKA_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LS_CREDENTIALS_FILE", str(file))
    monkeypatch.setenv("SCORING_HTTP_PORT", "9999")  # what the shell sets still wins
    for key in local_env.read_credentials(file):
        if key != "SCORING_HTTP_PORT":
            # recorded as unset, so monkeypatch removes what export_credentials adds: a leaked
            # SCORING_DATABASE_URL made every scoring this process started later log in as "s"
            monkeypatch.setenv(key, "")
            monkeypatch.delenv(key)
    local_env.export_credentials()
    s = load_settings(ServiceSettings, "scoring")
    assert (s.kafka_username, s.http_port, s.database_url.get_secret_value()) == (
        "scoring",
        9999,
        "postgresql://s:p@127.0.0.1:55432/scoring",
    )


@pytest.mark.parametrize("service", ["scoring", "enrolment"])
def test_a_service_command_line_without_settings_says_which_in_one_line(service, tmp_path):
    command = {"scoring": "rebuild", "enrolment": "rebuild-passports"}[service]
    res = subprocess.run(
        [PYTHON, "-m", f"services.{service}", command],
        cwd=ROOT,
        env=clean_env(LS_CREDENTIALS_FILE=str(tmp_path / "nowhere.env")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    prefix = service.upper()
    for name in (f"{prefix}_KAFKA_PASSWORD", f"{prefix}_DATABASE_URL", "LS_JWT_SECRET"):
        assert name in lines[0]
