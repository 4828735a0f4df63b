"""SCRAM over TLS against the real local cluster (issue 19): every local broker also listens with
SASL_SSL, its certificate signed by the stack's CA (deploy/local/kafka_tls.py). Provisioning and a
service instance run over it with the settings a production deployment sets
(KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SSL_CA_FILE), and the listener refuses a client that
does not verify or does not authenticate."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from shared.bus import tls
from tests.conftest import load_credentials
from tests.integration.replicas import extra_instances
from tests.support import ROOT

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import kafka_tls  # deploy/local/kafka_tls.py
import topology  # deploy/local/topology.py

pytestmark = pytest.mark.integration

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def tls_settings() -> dict[str, str]:
    """What a deployment sets to reach this cluster over TLS."""
    creds = load_credentials()
    brokers = topology.current().brokers
    return {
        "KAFKA_BOOTSTRAP": topology.tls_bootstrap(brokers, topology.first_port(creds["KAFKA_BOOTSTRAP"])),
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CA_FILE": str(kafka_tls.paths(ROOT / ".local" / "kafka")["ca"]),
    }


async def describe_cluster(**kwargs) -> dict:
    client = AIOKafkaAdminClient(**kwargs, request_timeout_ms=8000)
    try:
        await asyncio.wait_for(client.start(), 15)
        return await asyncio.wait_for(client.describe_cluster(), 15)
    finally:
        await client.close()


def admin_kwargs(settings: dict[str, str], password: str | None = None) -> dict:
    creds = load_credentials()
    return tls.client_kwargs(
        settings["KAFKA_BOOTSTRAP"], creds["KAFKA_ADMIN_USERNAME"], password or creds["KAFKA_ADMIN_PASSWORD"],
        settings["KAFKA_SECURITY_PROTOCOL"], settings["KAFKA_SSL_CA_FILE"],
    )  # fmt: skip


async def test_the_tls_listener_verifies_both_ways(tmp_path, caplog) -> None:
    settings = tls_settings()
    answer = await describe_cluster(**admin_kwargs(settings))
    assert len(answer["brokers"]) == topology.current().brokers
    # a client trusting another CA does not accept the brokers' certificate
    stranger = kafka_tls.ensure(tmp_path)["ca"]
    caplog.clear()
    with pytest.raises(KafkaConnectionError):
        await describe_cluster(**admin_kwargs({**settings, "KAFKA_SSL_CA_FILE": str(stranger)}))
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    # TLS alone opens nothing: SCRAM still decides (aiokafka reports it as a failed bootstrap)
    caplog.clear()
    with pytest.raises(KafkaConnectionError):
        await describe_cluster(**admin_kwargs(settings, password="not-the-admin-password"))
    assert "SaslAuthenticationFailed" in caplog.text
    # plaintext SASL against the TLS port does not get in either
    creds = load_credentials()
    with pytest.raises(KafkaConnectionError):
        await describe_cluster(**tls.client_kwargs(settings["KAFKA_BOOTSTRAP"], creds["KAFKA_ADMIN_USERNAME"],
                                                  creds["KAFKA_ADMIN_PASSWORD"], "SASL_PLAINTEXT"))  # fmt: skip


def test_provisioning_runs_over_tls_with_a_deployments_settings() -> None:
    run = subprocess.run(
        [PYTHON, "deploy/local/provision.py"], cwd=ROOT, env={**os.environ, **tls_settings()},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = re.search(r"provisioned (\d+) topics .* and ACLs \((\d+) added\)", run.stdout.replace("\n", " "))
    assert summary, run.stdout[-2000:]
    assert int(summary.group(1)) >= 20 and summary.group(2) == "0"  # the plaintext run provisioned them all


def test_the_container_provisioning_script_sets_scram_users_over_tls() -> None:
    """deploy/compose/provision.sh's Python step (wait for the cluster, set every principal's SCRAM
    password), run as the provisioning job would, here with the passwords the stack already uses."""
    script = (ROOT / "deploy" / "compose" / "provision.sh").read_text()
    body = script[script.index("<<'PY'\n") + len("<<'PY'\n") : script.index("\nPY\n")]
    env = {**os.environ, **tls_settings(), "LS_PROVISION_SCRAM": "true", "LS_PROVISION_WAIT_S": "30"}
    run = subprocess.run([PYTHON, "-c", body], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "SCRAM credentials of" in run.stdout and load_credentials()["SCORING_KAFKA_USERNAME"] in run.stdout
    # a CA file that is not there stops it in one line naming the setting
    bad = {**env, "KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}
    run = subprocess.run([PYTHON, "-c", body], cwd=ROOT, env=bad, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "KAFKA_SSL_CA_FILE=/nonexistent/ca.pem: no such file" in run.stderr


async def test_a_service_instance_runs_over_tls_beside_the_plaintext_ones() -> None:
    """A second scoring instance with the production transport settings (its only bootstrap is the
    TLS listener) joins the consumer group, which is Stable with it, and answers /readyz."""
    async with extra_instances("scoring", extra_env=tls_settings()) as group:
        instance = group.instances[0]
        assert await instance.ready()
        state, members = await group.group_members()
        assert state == "Stable" and members == group._members_per_instance * len(group.all)
        log = await asyncio.to_thread(Path(instance.log).read_text, errors="replace")
        assert "Traceback" not in log, log[-2000:]
