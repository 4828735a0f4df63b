"""Alertmanager in deploy/compose: Prometheus sends to it, its route gives every alert of our rules
a receiver, the receivers' webhook is the local alert sink, and the sink shows each alert with a
runbook link that resolves (no external service, no Docker needed)."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.unit.deploy.test_runbooks import resolve
from tests.unit.ops.tooling import PROMETHEUS_DIR, ROOT, alert_rules

COMPOSE_DIR = ROOT / "deploy" / "compose"
CONFIG = COMPOSE_DIR / "alertmanager" / "alertmanager.yml"


def compose_services() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())["services"]


def alertmanager() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def matches(matcher: str, labels: dict[str, str]) -> bool:
    m = re.fullmatch(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*', matcher)
    assert m, f"unsupported matcher {matcher!r}"
    name, op, value = m.groups()
    got = labels.get(name, "")
    return {
        "=": got == value,
        "!=": got != value,
        "=~": re.fullmatch(value, got) is not None,
        "!~": re.fullmatch(value, got) is None,
    }[op]


def route(node: dict, labels: dict[str, str], inherited: dict | None = None) -> dict:
    """The settings Alertmanager applies to an alert: the deepest first matching route, with
    what it does not set inherited from its parents (continue: false everywhere here)."""
    settings = {**(inherited or {}), **{k: v for k, v in node.items() if k not in ("routes", "matchers")}}
    for child in node.get("routes", []):
        assert not child.get("continue"), "the evaluator below does not follow continue"
        if all(matches(m, labels) for m in child.get("matchers", [])):
            return route(child, labels, settings)
    return settings


def test_prometheus_sends_its_alerts_to_the_compose_alertmanager() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = [t for am in config["alerting"]["alertmanagers"] for g in am["static_configs"] for t in g["targets"]]
    assert targets == ["alertmanager:9093"]
    services = compose_services()
    am = services["alertmanager"]
    assert re.fullmatch(r"prom/alertmanager:v\d+\.\d+\.\d+", am["image"]), "pinned release"
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in am["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    assert all(p.startswith("127.0.0.1:") for p in am["ports"]), "not published beyond this host"
    assert "alertmanager" in services["prometheus"]["depends_on"]


def test_every_receiver_is_a_local_webhook_that_exists() -> None:
    config = alertmanager()
    names = [r["name"] for r in config["receivers"]]
    used = {config["route"]["receiver"]} | {r["receiver"] for r in config["route"].get("routes", []) if "receiver" in r}
    assert used <= set(names), f"routes to undefined receivers {used - set(names)}"
    sink = compose_services()["alert-sink"]
    port = int(sink["environment"]["ALERT_SINK_PORT"])
    for receiver in config["receivers"]:
        (hook,) = receiver["webhook_configs"]
        url = urlsplit(hook["url"])
        assert (url.hostname, url.port) == ("alert-sink", port), "no external service"
        assert url.path == "/alerts"
        assert hook["send_resolved"] is True, "the reader learns when it is over"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_is_routed_by_its_severity(rule: dict) -> None:
    labels = {"alertname": rule["alert"], "service": "scoring", **rule["labels"]}
    settings = route(alertmanager()["route"], labels)
    expected = {"critical": "learnstreet-oncall", "warning": "learnstreet-ticket"}[rule["labels"]["severity"]]
    assert settings["receiver"] == expected
    assert {"alertname", "service"} <= set(settings["group_by"])


def test_critical_alerts_repeat_sooner_than_warnings() -> None:
    root = alertmanager()["route"]
    critical = route(root, {"alertname": "LearnstreetServiceDown", "severity": "critical"})
    warning = route(root, {"alertname": "LearnstreetDeadLetters", "severity": "warning"})
    hours = {"1h": 1, "4h": 4, "12h": 12, "24h": 24}
    assert hours[critical["repeat_interval"]] < hours[warning["repeat_interval"]]


def test_inhibitions_name_alerts_that_exist() -> None:
    names = {r["alert"] for r in alert_rules()}
    for rule in alertmanager()["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            m = re.fullmatch(r'alertname=~?"(.*)"', matcher)
            assert m, matcher
            assert set(m.group(1).split("|")) <= names, matcher
        assert "service" in rule["equal"], "a down service must not silence the others"


def load_sink():
    spec = importlib.util.spec_from_file_location("alert_sink", COMPOSE_DIR / "alert-sink" / "alert_sink.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def webhook_payload(rule: dict) -> dict:
    """What Alertmanager 0.28 POSTs (webhook version 4) for one firing alert of `rule`."""
    labels = {"alertname": rule["alert"], "service": "notify", **rule["labels"]}
    annotations = {**rule["annotations"], "summary": "notify is down"}
    return {
        "version": "4",
        "status": "firing",
        "receiver": "learnstreet-oncall",
        "groupLabels": {"alertname": rule["alert"], "service": "notify"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "alerts": [{"status": "firing", "labels": labels, "annotations": annotations, "fingerprint": "f0"}],
    }


@pytest.fixture
def sink(tmp_path):
    module = load_sink()
    server = module.serve("127.0.0.1", 0, tmp_path / "alerts.jsonl")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "alerts.jsonl"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_sink_shows_each_alert_with_a_runbook_link_that_resolves(sink, capsys) -> None:
    base, log = sink
    rule = next(r for r in alert_rules() if r["alert"] == "LearnstreetServiceDown")
    r = httpx.post(f"{base}/alerts", json=webhook_payload(rule), timeout=5)
    assert r.status_code == 204
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("[learnstreet-oncall] firing critical LearnstreetServiceDown service=notify runbook=")
    runbook = re.search(r"runbook=(\S+)", line).group(1)
    assert resolve(runbook) is None, resolve(runbook)
    (kept,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert (
        kept["receiver"] == "learnstreet-oncall"
        and kept["alerts"][0]["labels"]["alertname"] == "LearnstreetServiceDown"
    )


def test_the_sink_refuses_what_alertmanager_does_not_send(sink) -> None:
    base, log = sink
    assert httpx.post(f"{base}/alerts", content=b"{not json", timeout=5).status_code == 400
    assert httpx.post(f"{base}/alerts", json=[1, 2], timeout=5).status_code == 400
    assert httpx.post(f"{base}/elsewhere", json={}, timeout=5).status_code == 404
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert not log.exists(), "nothing refused is kept"
