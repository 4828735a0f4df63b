"""The local stack waits for a service's graceful stop as long as Kubernetes does: a stop drains
consumers for up to graceful_timeout_s and then stops the relay, producer and pool, so a grace equal
to the drain alone (20 s, before) cut slow but graceful stops with SIGKILL at teardown."""

from __future__ import annotations

from pathlib import Path

import stack
import yaml

from shared.settings import ServiceSettings

K8S_BASE = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base"


def test_the_stacks_stop_grace_outlasts_a_services_graceful_drain_as_the_pods_do() -> None:
    drain = ServiceSettings.model_fields["graceful_timeout_s"].default
    assert stack.SERVICE_STOP_GRACE_S >= drain + 20
    for service in ("activities", "enrolment", "scoring", "notify"):
        docs = [d for d in yaml.safe_load_all((K8S_BASE / f"{service}.yaml").read_text()) if d]
        [deployment] = [d for d in docs if d.get("kind") == "Deployment"]
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == stack.SERVICE_STOP_GRACE_S
