"""The running services' /metrics: promtool's lint, naming rules, and the metrics that the alert
rules and the dashboard rely on really being exported."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import SERVICE_PORTS, eventually, service_url
from tests.unit.ops.tooling import (
    DASHBOARDS,
    alert_rules,
    dashboard,
    dashboard_exprs,
    exposed_names,
    metric_names,
    run,
    tool,
)

pytestmark = pytest.mark.integration

# labels that would carry personal data or unbounded values
FORBIDDEN_LABELS = re.compile(r"(resident|person|user|phone|email|mobile|address|name|id)$", re.IGNORECASE)
ALLOWED_LABELS = {"app_name", "handler", "event_type", "__name__"}


async def scrape(service: str) -> str:
    """/metrics of a running service; waits out a restart (other work restarts services meanwhile)."""

    async def once() -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                return await http.get(f"{service_url(service)}/metrics")
        except httpx.TransportError:
            return None

    r = await eventually(once, timeout_s=60, every_s=1)
    assert r.status_code == 200, f"{service}: /metrics answered {r.status_code}"
    return r.text


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
async def test_metrics_pass_promtool_check_metrics(service: str) -> None:
    text = await scrape(service)
    res = run(tool("promtool"), "check", "metrics", stdin=text)
    assert (res.returncode, res.stdout + res.stderr) == (0, ""), f"{service}: promtool check metrics"


async def test_promtool_check_metrics_does_flag_bad_names() -> None:
    res = run(
        tool("promtool"),
        "check",
        "metrics",
        stdin="# HELP x_latency_ms_total x\n# TYPE x_latency_ms_total counter\nx_latency_ms_total 1\n",
    )
    assert res.returncode != 0 and res.stdout + res.stderr


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
async def test_learnstreet_metrics_follow_our_naming_rules(service: str) -> None:
    text = await scrape(service)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    ours = {n: t for n, t in types.items() if n.startswith("learnstreet_")}
    assert ours, f"{service} exports no learnstreet_* metric"
    for name, kind in ours.items():
        if kind == "counter":
            assert name.endswith("_total"), name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|kb|mb|percent)(_|$)", name), f"{name}: base units"
    for labels in re.findall(r"^learnstreet_\w+\{([^}]*)\}", text, re.MULTILINE):
        for label in re.findall(r'(\w+)="', labels):
            assert label in ALLOWED_LABELS or not FORBIDDEN_LABELS.search(label), f"{service}: label {label}"


@pytest.fixture(scope="module")
async def exported() -> set[str]:
    names: set[str] = set()
    for service in SERVICE_PORTS:
        names |= exposed_names(await scrape(service))
    return names


def _missing(exprs: list[tuple[str, str]], exported: set[str]) -> list[str]:
    return sorted(
        f"{where}: {name}"
        for where, expr in exprs
        for name in metric_names(expr)
        if name != "up" and name not in exported
    )


async def test_every_metric_the_alert_rules_use_is_exported(exported: set[str]) -> None:
    # a misspelt or missing metric makes an alert silently never fire
    missing = _missing([(r["alert"], r["expr"]) for r in alert_rules()], exported)
    assert not missing, f"not exported by any running service: {missing}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
async def test_every_metric_the_dashboard_uses_is_exported(path, exported: set[str]) -> None:
    missing = _missing(dashboard_exprs(dashboard(path)), exported)
    assert not missing, f"not exported by any running service: {missing}"
