"""The replication each deployment asks provisioning for matches its brokers: RF 3 and
min.insync.replicas 2 on the Pinghu overlay's three-broker cluster, 1/1 on compose's single broker
(with the same values for the broker's internal topics)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def literals(kustomization: Path) -> dict[str, str]:
    doc = yaml.safe_load(kustomization.read_text())
    (config,) = [g for g in doc["configMapGenerator"] if g["name"] == "learnstreet-config"]
    return dict(item.split("=", 1) for item in config["literals"])


def test_the_pinghu_overlay_provisions_for_its_three_brokers() -> None:
    config = literals(ROOT / "deploy" / "k8s" / "overlays" / "pinghu" / "kustomization.yaml")
    assert len(config["KAFKA_BOOTSTRAP"].split(",")) == 3
    assert config["KAFKA_REPLICATION_FACTOR"] == "3"
    assert config["KAFKA_MIN_INSYNC_REPLICAS"] == "2"


def test_compose_provisions_for_its_single_broker_as_the_broker_itself_is_set() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    env = compose["services"]["provision"]["environment"]
    start = (ROOT / "deploy" / "compose" / "kafka" / "start.sh").read_text()
    broker = dict(re.findall(r"^([a-z.]+)=(\S+)$", start, re.MULTILINE))
    assert env["KAFKA_REPLICATION_FACTOR"] == broker["offsets.topic.replication.factor"] == "1"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == broker["min.insync.replicas"] == "1"
    assert broker["transaction.state.log.min.isr"] == "1"
