"""Prometheus configuration, alert rules and their promtool unit tests (no running services)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.unit.ops.tooling import (
    PROMETHEUS_DIR,
    ROOT,
    RULE_TESTS,
    RULES,
    RUNBOOKS,
    alert_rules,
    metric_names,
    run,
    tool,
)

# What the issue asks an operator to be paged or ticketed for, and the alert that covers it.
REQUIRED_ALERTS = {
    "LearnstreetServiceDown",
    "LearnstreetConsumerLagHigh",
    "LearnstreetConsumerStuck",
    "LearnstreetIndexStale",
    "LearnstreetDeadLetters",
    "LearnstreetNotificationFailureRatioHigh",
}


def test_prometheus_config_is_valid() -> None:
    res = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_every_service_is_scraped_with_a_service_label() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    groups = [g for job in config["scrape_configs"] for g in job["static_configs"]]
    services = {g["labels"]["service"]: g["targets"] for g in groups}
    assert services == {
        "activities": ["activities:8101"],
        "enrolment": ["enrolment:8102"],
        "scoring": ["scoring:8103"],
        "notify": ["notify:8104"],
    }


def test_rules_pass_promtool_lint() -> None:
    assert RULES, "no rule files in deploy/prometheus/rules"
    res = run(tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULES))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(test_file) -> None:
    res = run(tool("promtool"), "test", "rules", test_file.name, cwd=test_file.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_the_issue_alerts_exist() -> None:
    assert REQUIRED_ALERTS <= {r["alert"] for r in alert_rules()}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_is_documented_and_tested(rule: dict) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"Learnstreet[A-Z][A-Za-z]+", name), "CamelCase with the Learnstreet prefix"
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{name}.md#check"
    runbook = RUNBOOKS / f"{name}.md"
    assert runbook.exists(), f"missing runbook {runbook.relative_to(ROOT)}"
    assert name in (RUNBOOKS / "README.md").read_text(), "runbook index does not list it"
    # promtool tests: at least one case where it fires and one where it must stay silent
    cases = [
        case
        for path in RULE_TESTS
        for t in yaml.safe_load(path.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case["alertname"] == name
    ]
    assert any(c["exp_alerts"] for c in cases), f"no promtool case where {name} fires"
    assert any(not c["exp_alerts"] for c in cases), f"no promtool case where {name} stays silent"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alerts_use_only_well_named_metrics(rule: dict) -> None:
    for name in metric_names(rule["expr"]):
        assert name == "up" or name.startswith("learnstreet_"), name
        assert not re.search(r"_(ms|milliseconds|secs|kb|mb)(_|$)", name), f"{name}: use base units"
