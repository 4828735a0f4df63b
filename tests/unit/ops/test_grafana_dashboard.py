"""The Grafana dashboard: loadable JSON, a sound layout, valid PromQL in every query.

That every metric it uses is really exported is checked against the running services in
tests/integration/ops/test_metrics_exist.py.
"""

from __future__ import annotations

import pytest

from tests.unit.ops.tooling import DASHBOARDS, dashboard, dashboard_exprs, metric_names, panels

# what the issue asks the dashboard to show, as a word its panel titles carry
SECTIONS = ("Throughput", "lag", "Retries", "Dead letters", "Notifications", "index")


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS, "no dashboard JSON in deploy/grafana"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_layout(path) -> None:
    dash = dashboard(path)
    assert 0 < len(dash["uid"]) <= 40
    assert dash["title"] and isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels(dash):
        assert p["type"] and p["title"], p
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"{p['title']}: wider than 24 columns"
        if p["type"] != "row":
            assert p["targets"], f"{p['title']}: no query"
            assert p["datasource"]["uid"] == "${datasource}", "queries use the datasource variable"
    boxes = [(p["title"], p["gridPos"]) for p in panels(dash)]
    for i, (a, ga) in enumerate(boxes):
        for b, gb in boxes[i + 1 :]:
            apart = (
                ga["x"] + ga["w"] <= gb["x"]
                or gb["x"] + gb["w"] <= ga["x"]
                or ga["y"] + ga["h"] <= gb["y"]
                or gb["y"] + gb["h"] <= ga["y"]
            )
            assert apart, f"panels {a!r} and {b!r} overlap"
    titles = " ".join(p["title"] for p in panels(dash))
    for section in SECTIONS:
        assert section in titles, f"no panel about {section}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_is_valid_promql(path) -> None:
    exprs = dashboard_exprs(dashboard(path))
    assert exprs
    for title, expr in exprs:
        try:
            names = metric_names(expr)
        except ValueError as error:
            pytest.fail(f"{title}: invalid PromQL {expr!r}: {error}")
        assert names, f"{title}: selects no metric"


def test_invalid_promql_is_detected() -> None:
    with pytest.raises(ValueError):
        metric_names("sum by (topic) (rate(learnstreet_events_consumed_total[$__rate_interval])")
