"""deploy/k8s/strimzi: KafkaTopic and KafkaUser resources from the topic catalogue, up to date and
valid against our schema of the Strimzi v1 API they use (offline: no cluster, no network)."""

from __future__ import annotations

import copy
import shutil

import provision  # deploy/local/provision.py (conftest puts deploy/local on sys.path)
import pytest
import yaml

from deploy.k8s import strimzi
from shared.events import topics as catalogue
from tests.unit.ops.tooling import ROOT, run, tool

SECRETS = ROOT / "deploy" / "k8s" / "overlays" / "pinghu" / "secrets"


def generated(kind: str) -> list[dict]:
    name = {"KafkaTopic": "topics.yaml", "KafkaUser": "users.yaml"}[kind]
    return list(yaml.safe_load_all((strimzi.OUT / name).read_text()))


def test_committed_files_are_what_the_catalogue_generates() -> None:
    assert strimzi.problems() == []


def test_a_stale_file_is_reported(tmp_path, monkeypatch) -> None:
    out = tmp_path / "strimzi"
    shutil.copytree(strimzi.OUT, out)
    text = (out / "topics.yaml").read_text()
    (out / "topics.yaml").write_text(text.replace("partitions: 6", "partitions: 12", 1))
    monkeypatch.setattr(strimzi, "OUT", out)
    monkeypatch.setattr(strimzi, "ROOT", tmp_path)
    assert strimzi.problems() == ["strimzi/topics.yaml is stale: run .venv/bin/python -m deploy.k8s.strimzi --write"]


@pytest.mark.parametrize("doc", generated("KafkaTopic") + generated("KafkaUser"), ids=lambda d: d["metadata"]["name"])
def test_every_resource_is_valid_against_the_strimzi_api_schema(doc: dict) -> None:
    assert strimzi.validate(doc) == []


def _broken(kind: str, change) -> dict:
    doc = copy.deepcopy(generated(kind)[0])
    change(doc)
    return doc


BROKEN = {
    "misspelt spec field": _broken("KafkaTopic", lambda d: d["spec"].update(partiton=3)),
    "zero partitions": _broken("KafkaTopic", lambda d: d["spec"].update(partitions=0)),
    "replicas as a string": _broken("KafkaTopic", lambda d: d["spec"].update(replicas="3")),
    "API removed in Strimzi 1.0": _broken("KafkaTopic", lambda d: d.update(apiVersion="kafka.strimzi.io/v1beta2")),
    "upper-case name": _broken("KafkaTopic", lambda d: d["metadata"].update(name="Kiosk.Checkins")),
    "no cluster label": _broken("KafkaTopic", lambda d: d["metadata"]["labels"].pop("strimzi.io/cluster")),
    "unknown operation": _broken(
        "KafkaUser", lambda d: d["spec"]["authorization"]["acls"][0].update(operations=["Wrtie"])
    ),
    "SCRAM-SHA-256 is not offered": _broken("KafkaUser", lambda d: d["spec"]["authentication"].update(type="scram")),
    "misspelt ACL field": _broken(
        "KafkaUser", lambda d: d["spec"]["authorization"]["acls"][0]["resource"].update(pattern="literal")
    ),
}


@pytest.mark.parametrize("doc", BROKEN.values(), ids=BROKEN.keys())
def test_validation_rejects_what_strimzi_would_not_take_as_written(doc: dict) -> None:
    assert strimzi.validate(doc), "accepted"


def test_topics_are_the_catalogue_with_the_district_replication() -> None:
    topics = {d["metadata"]["name"]: d["spec"] for d in generated("KafkaTopic")}
    assert set(topics) == {s.name for s in catalogue.all_topic_specs()}
    for spec in catalogue.all_topic_specs():
        got = topics[spec.name]
        assert got["partitions"] == spec.partitions
        assert got["config"] == {**spec.config, "min.insync.replicas": "2"}
        # a broker may be down and acks=all producers still write
        assert got["replicas"] == 3 > int(got["config"]["min.insync.replicas"])


def strimzi_acls(user: dict) -> set[provision.Acl]:
    pattern = {"literal": "LITERAL", "prefix": "PREFIXED"}
    return {
        (
            rule["resource"]["type"].upper(),
            rule["resource"]["name"],
            pattern[rule["resource"]["patternType"]],
            op.upper(),
        )
        for rule in user["spec"]["authorization"]["acls"]
        for op in rule["operations"]
        if rule["type"] == "allow"
    }


def test_users_get_exactly_the_acls_local_provisioning_grants() -> None:
    users = {d["metadata"]["labels"]["learnstreet.io/principal"]: d for d in generated("KafkaUser")}
    assert set(users) == set(catalogue.PRINCIPALS), "one user per service and one for the kiosks"
    wanted = provision.wanted_acls()
    for principal, user in users.items():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert strimzi_acls(user) == wanted[principal], principal


def test_least_privilege_kiosks_only_write_checkins() -> None:
    (kiosk,) = [d for d in generated("KafkaUser") if d["metadata"]["labels"]["learnstreet.io/principal"] == "kiosk"]
    assert strimzi_acls(kiosk) == {
        ("TOPIC", "kiosk.checkins", "LITERAL", "WRITE"),
        ("TOPIC", "kiosk.checkins", "LITERAL", "DESCRIBE"),
    }


def test_usernames_are_the_ones_the_overlay_secrets_use() -> None:
    env = dict(
        line.split("=", 1) for line in (SECRETS / "provision.env.example").read_text().splitlines() if "=" in line
    )
    for user in generated("KafkaUser"):
        principal = user["metadata"]["labels"]["learnstreet.io/principal"]
        assert env[f"{principal.upper()}_KAFKA_USERNAME"] == user["metadata"]["name"]


def test_kustomize_renders_them_valid_in_the_kafka_namespace() -> None:
    res = run(tool("kubectl"), "kustomize", str(strimzi.OUT))
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    assert len(docs) == len(catalogue.all_topic_specs()) + len(catalogue.PRINCIPALS)
    for doc in docs:
        assert doc["metadata"]["namespace"] == "district-kafka"
        assert strimzi.validate(doc) == []


def test_check_command_exits_non_zero_on_a_stale_file(tmp_path, monkeypatch, capsys) -> None:
    assert strimzi.main(["--check"]) == 0
    out = tmp_path / "strimzi"
    shutil.copytree(strimzi.OUT, out)
    (out / "users.yaml").write_text("")
    monkeypatch.setattr(strimzi, "OUT", out)
    monkeypatch.setattr(strimzi, "ROOT", tmp_path)
    assert strimzi.main(["--check"]) == 1
    assert "strimzi/users.yaml is stale" in capsys.readouterr().err


def test_only_activities_may_cut_and_only_the_kiosk_topic():
    """Delete on kiosk.checkins lets activities cut what it consumed after an erasure
    (services/activities/adapters/kiosk_trim.py); no other principal may delete records anywhere."""
    assert {t.name for t in catalogue.all_topic_specs() if t.cut_by} == {catalogue.KIOSK_CHECKINS.name}
    for user in generated("KafkaUser"):
        principal = user["metadata"]["labels"]["learnstreet.io/principal"]
        deletes = {acl for acl in strimzi_acls(user) if acl[3] == "DELETE"}
        cut = ("TOPIC", catalogue.KIOSK_CHECKINS.name, "LITERAL", "DELETE")
        expected = {cut} if principal == "activities" else set()
        assert deletes == expected, principal
