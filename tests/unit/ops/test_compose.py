"""deploy/compose/compose.yaml, validated offline against the compose specification's schema."""

from __future__ import annotations

import re

import yaml

from tests.unit.ops.tooling import ROOT, run, tool

COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
SERVICES = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


def test_compose_file_matches_the_compose_spec_schema() -> None:
    res = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert res.returncode == 0, res.stdout + res.stderr


def test_schema_check_rejects_a_broken_file(tmp_path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  kafka:\n    image: apache/kafka:4.1.1\n    stop_grace_period: [45]\n")
    res = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken))
    assert res.returncode != 0


def test_the_stack_has_what_the_issue_lists() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["provision"]["restart"] == "no", "provisioning is a one-shot job"
    assert services["provision"]["build"]["target"] == "provision"
    for name, port in SERVICES.items():
        svc = services[name]
        assert svc["command"] == [f"services.{name}"]
        assert svc["depends_on"]["provision"]["condition"] == "service_completed_successfully"
        assert seconds(svc["stop_grace_period"]) > 20, "longer than the services' graceful timeout"
        assert f"127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9092"


def test_kafka_uses_sasl_scram_and_acls() -> None:
    start = (COMPOSE_DIR / "kafka" / "start.sh").read_text()
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in start
    assert "allow.everyone.if.no.acl.found=false" in start
    assert "StandardAuthorizer" in start and "--add-scram" in start
    assert "process.roles=broker,controller" in start


def test_kafka_has_no_anonymous_super_user_and_its_controller_listener_authenticates() -> None:
    """Issue 16: a PLAINTEXT controller listener maps every client to User:ANONYMOUS, which had to be
    a super user; anyone reaching port 9093 could then read and change every ACL."""
    start = (COMPOSE_DIR / "kafka" / "start.sh").read_text()
    props = dict(
        line.split("=", 1) for line in start.split("<<PROPS", 1)[1].split("PROPS", 1)[0].splitlines() if "=" in line
    )
    assert props["super.users"] == "User:${KAFKA_ADMIN_USERNAME}"
    assert "CONTROLLER:SASL_PLAINTEXT" in props["listener.security.protocol.map"].split(",")
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert 'password="${KAFKA_CONTROLLER_PASSWORD}"' in props["listener.name.controller.plain.sasl.jaas.config"]
    kafka_env = compose()["services"]["kafka"]["environment"]
    assert kafka_env["KAFKA_CONTROLLER_PASSWORD"].startswith("${KAFKA_CONTROLLER_PASSWORD:?")


def test_no_secret_values_in_the_compose_file() -> None:
    for name, svc in compose()["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET", key):
                assert str(value).startswith("${"), f"{name}.{key} must come from deploy/compose/.env"
    assert ".env" in (COMPOSE_DIR / ".gitignore").read_text().split()


def test_shell_scripts_parse() -> None:
    for script in ("provision.sh", "kafka/start.sh", "postgres/init-databases.sh"):
        res = run("bash", "-n", str(COMPOSE_DIR / script))
        assert res.returncode == 0, f"{script}: {res.stderr}"
