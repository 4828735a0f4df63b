"""What the operations tests share: external tools, and the PromQL our rules and dashboard use."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RUNBOOKS = ROOT / "docs" / "runbooks"
VENV_BIN = Path(sys.executable).parent

# Debian package that provides each tool (`make setup` must install them; see docs/deployment.md)
_PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "kubectl": "kubectl (or kustomize)"}

# Grafana's variables, replaced by what they stand for in a query Prometheus would run
_GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$service": ".*"}


def tool(name: str) -> str:
    """Path of an external tool, or a failure saying which package brings it (never a skip)."""
    for candidate in (VENV_BIN / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise AssertionError(f"`{name}` not found: install the Debian package {_PACKAGES.get(name, name)}")


def run(*argv: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def alert_rules() -> list[dict]:
    return [r for path in RULES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]


def dashboard(path: Path) -> dict:
    return json.loads(path.read_text())


def panels(dash: dict) -> Iterator[dict]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(dash: dict) -> list[tuple[str, str]]:
    """(panel title, expr) of every query, templating queries included."""
    out = [(p["title"], t["expr"]) for p in panels(dash) for t in p.get("targets", [])]
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            out.append((f"variable {var['name']}", m.group(1) if m else query))
    return out


def as_promql(expr: str) -> str:
    for var, value in _GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (raises ValueError when it is not valid PromQL)."""
    names: set[str] = set()

    def visit(node) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next((m.value for m in node.matchers.matchers if m.name == "__name__"), None)
            if name:
                names.add(name)
        return True

    promql_parser.walk(promql_parser.parse(as_promql(expr)), visit)
    return names


def exposed_names(exposition: str) -> set[str]:
    """Series names a Prometheus text exposition offers: the samples present, and every declared
    family (a labelled counter has no sample until its first increment, yet it is exported)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "summary":
                names |= {f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names
