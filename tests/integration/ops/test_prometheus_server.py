"""A real Prometheus server (Debian's binary) scrapes the running services with our
configuration and rules: every target up, the alert rules evaluate, the index is queryable."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.support import SERVICE_PORTS, eventually, service_url
from tests.unit.ops.tooling import PROMETHEUS_DIR, alert_rules, tool

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_config(tmp: Path) -> Path:
    """deploy/prometheus/prometheus.yml with the local targets and a 1 s scrape interval."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp / "rules")
    for job in config["scrape_configs"]:
        job["scrape_timeout"] = "1s"
        for group in job["static_configs"]:
            service = group["labels"]["service"]
            group["targets"] = [urlsplit(service_url(service)).netloc]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={local_config(tmp)}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode in (0, -15), (tmp / "prometheus.log").read_text()


async def get(base: str, path: str, **params) -> dict | None:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.get(base + path, params=params)
    except httpx.TransportError:
        return None
    return r.json()["data"] if r.status_code == 200 else None


async def test_every_service_target_is_up(prometheus: str) -> None:
    async def all_up():
        data = await get(prometheus, "/api/v1/targets")
        if not data:
            return None
        health = {t["labels"]["service"]: t["health"] for t in data["activeTargets"]}
        return health if health == dict.fromkeys(SERVICE_PORTS, "up") else None

    try:
        await eventually(all_up, timeout_s=60, every_s=0.5)
    except AssertionError:
        data = await get(prometheus, "/api/v1/targets") or {"activeTargets": []}
        pytest.fail(f"targets: {[(t['labels'], t['health'], t['lastError']) for t in data['activeTargets']]}")

    up = await get(prometheus, "/api/v1/query", query='up{job="learnstreet"} == 1')
    assert {r["metric"]["service"] for r in up["result"]} == set(SERVICE_PORTS)


async def test_learnstreet_series_carry_the_service_label(prometheus: str) -> None:
    async def lag_series():
        data = await get(prometheus, "/api/v1/query", query="count by (service) (learnstreet_outbox_backlog_messages)")
        return data and len(data["result"]) == len(SERVICE_PORTS) and data

    await eventually(lag_series, timeout_s=30, every_s=0.5)


async def test_the_learning_index_gauges_are_queryable(prometheus: str) -> None:
    async def index():
        data = await get(prometheus, "/api/v1/query", query="learnstreet_scoring_index_score")
        return data and data["result"]

    result = await eventually(index, timeout_s=30, every_s=0.5)
    assert {"community", "aspect", "service"} <= set(result[0]["metric"])
    assert all(r["metric"]["service"] == "scoring" for r in result)
    street = await get(prometheus, "/api/v1/query", query='learnstreet_scoring_index_score{aspect="total"}')
    assert street["result"], "no total score per community"


async def test_alert_rules_load_and_evaluate_without_errors(prometheus: str) -> None:
    expected = {r["alert"] for r in alert_rules()}

    async def evaluated():
        data = await get(prometheus, "/api/v1/rules", type="alert")
        if not data:
            return None
        rules = {r["name"]: r for g in data["groups"] for r in g["rules"]}
        done = set(rules) == expected and all(r.get("lastEvaluation", "").startswith("20") for r in rules.values())
        return rules if done and all(r["health"] != "unknown" for r in rules.values()) else None

    rules = await eventually(evaluated, timeout_s=30, every_s=0.5)
    # "ok": the expression ran against real series without error (not whether it fires: other
    # tests restart and load services concurrently)
    assert {n: r["health"] for n, r in rules.items()} == dict.fromkeys(expected, "ok")
