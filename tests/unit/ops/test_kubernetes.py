"""deploy/k8s: `kubectl kustomize` output validated offline by kubernetes-validate --strict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from shared.events import topics
from tests.unit.ops.tooling import ROOT, run, tool

K8S = ROOT / "deploy" / "k8s"
SERVICES = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}
GRACEFUL_TIMEOUT_S = 20  # shared/settings.py graceful_timeout_s


def render(tmp_path: Path, target: str) -> list[dict]:
    """Kustomize a copy, with the overlay's git-ignored secret env files made from the examples."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    for example in copy.rglob("*.env.example"):
        example.with_suffix("").write_text(example.read_text())
    res = run(tool("kubectl"), "kustomize", str(copy / target))
    assert res.returncode == 0, res.stderr
    (tmp_path / "rendered.yaml").write_text(res.stdout)
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def validate(path: Path) -> None:
    res = run(tool("kubernetes-validate"), "--strict", "--quiet", str(path))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("target", ["base", "overlays/pinghu"])
def test_kustomize_output_is_valid_kubernetes(tmp_path, target) -> None:
    docs = render(tmp_path, target)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Job", "ConfigMap"}
    validate(tmp_path / "rendered.yaml")


def test_strict_validation_rejects_unknown_fields(tmp_path) -> None:
    docs = render(tmp_path, "base")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    res = run(tool("kubernetes-validate"), "--strict", "--quiet", str(bad))
    assert res.returncode != 0


def deployments(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}


def test_deployments_probe_shut_down_gracefully_and_stay_small(tmp_path) -> None:
    docs = render(tmp_path, "overlays/pinghu")
    deps = deployments(docs)
    assert set(deps) == set(SERVICES)
    for name, dep in deps.items():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [f"services.{name}"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod["terminationGracePeriodSeconds"] > GRACEFUL_TIMEOUT_S + 5  # + the preStop pause
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits["memory"] == "512Mi" and requests["memory"] and requests["cpu"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        ports = {p["containerPort"] for p in container["ports"]}
        assert ports == {SERVICES[name]}
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(SERVICES[name])
        # the Secret reference follows kustomize's hashed name
        secret_refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
        assert secret_refs and set(secret_refs) <= secrets


def test_replicas_never_exceed_the_partitions_that_bound_consumers(tmp_path) -> None:
    for name, dep in deployments(render(tmp_path, "overlays/pinghu")).items():
        partitions = max(t.partitions for t in topics.TOPICS if name in t.consumers)
        assert dep["spec"]["replicas"] <= partitions, f"{name}: idle consumers beyond {partitions} partitions"


def test_no_secret_values_are_committed() -> None:
    secret_dir = K8S / "overlays" / "pinghu" / "secrets"
    assert "*.env" in (secret_dir / ".gitignore").read_text().split()
    tracked = run("git", "ls-files", "--", str(K8S), cwd=ROOT).stdout.split()
    assert not [f for f in tracked if f.endswith(".env")], "secret env files must not be committed"
    for example in secret_dir.glob("*.env.example"):
        for line in example.read_text().splitlines():
            if "PASSWORD=" in line or "SECRET=" in line:
                assert line.split("=", 1)[1].startswith(("change-me", "unused")), line
