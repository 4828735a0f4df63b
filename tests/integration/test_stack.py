"""The provisioned local stack: topics as the catalogue says, replicated as configured, one locked
database per service."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.events import topics as catalogue
from shared.local_env import read_credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import topology  # deploy/local/topology.py

pytestmark = pytest.mark.integration

# the catalogue as provisioning applied it: its defaults with any LS_RETENTION_<TOPIC> of the
# environment or credentials file (deploy/local/provision.py topic_specs)
SPECS = catalogue.resolve_topic_specs({**read_credentials(), **os.environ})


async def test_topics_have_the_catalogues_partitions(kafka_admin):
    admin = await kafka_admin("admin")
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in SPECS])}
    for spec in SPECS:
        assert described[spec.name]["error_code"] == 0, spec.name
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name


async def test_topic_configs_match_the_catalogue(kafka_admin):
    admin = await kafka_admin("admin")
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.name) for s in SPECS])
    configs = {res[3]: {entry[0]: entry[1] for entry in res[4]} for resp in responses for res in resp.resources}
    compacted = {s.name for s in SPECS if s.config.get("cleanup.policy") == "compact"}
    assert compacted >= {"enrolment.contacts", "scoring.index"}
    for spec in SPECS:
        cfg = configs[spec.name]
        for key, value in spec.config.items():
            assert cfg[key] == value, (spec.name, key)
        assert cfg["cleanup.policy"] == ("compact" if spec.name in compacted else "delete"), spec.name


async def test_every_topic_is_replicated_as_configured(kafka_admin, credentials):
    """Factor and min.insync.replicas from configuration on whatever the stack runs (1 broker: 1/1,
    3 brokers: 3/2), internal topics included; never a silent factor of 1 on a cluster."""
    admin = await kafka_admin("admin")
    brokers = len((await admin.describe_cluster())["brokers"])
    assert brokers == topology.current().brokers
    wanted = topology.replication({**credentials, **os.environ}, brokers)
    names = [s.name for s in SPECS] + ["__consumer_offsets"]
    described = {t["topic"]: t for t in await admin.describe_topics(names)}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    configs = {res[3]: {entry[0]: entry[1] for entry in res[4]} for resp in responses for res in resp.resources}
    for name in names:
        assert described[name]["error_code"] == 0, name
        assert {len(p["replicas"]) for p in described[name]["partitions"]} == {wanted.factor}, name
        assert configs[name]["min.insync.replicas"] == str(wanted.min_insync), name


def database_urls(credentials: dict[str, str]) -> dict[str, str]:
    return {s: credentials[f"{s.upper()}_DATABASE_URL"] for s in catalogue.SERVICES}


def with_database(url: str, database: str) -> str:
    u = urlsplit(url)
    return urlunsplit(u._replace(path=f"/{database}"))


def with_password(url: str, password: str) -> str:
    u = urlsplit(url)
    netloc = f"{u.username}:{password}@{u.hostname}:{u.port}"
    return urlunsplit(u._replace(netloc=netloc))


@pytest.mark.parametrize("service", catalogue.SERVICES)
async def test_each_service_owns_its_database(credentials, service):
    url = database_urls(credentials)[service]
    conn = await asyncpg.connect(url, timeout=10)
    try:
        user, db, owner = await conn.fetchrow(
            "SELECT current_user, current_database(), pg_get_userbyid(datdba) "
            "FROM pg_database WHERE datname = current_database()"
        )
        assert (user, db, owner) == (f"learnstreet_{service}",) * 3
        assert await conn.fetchval("SHOW fsync") == "on"
    finally:
        await conn.close()


@pytest.mark.parametrize("service", catalogue.SERVICES)
async def test_a_service_cannot_connect_to_another_services_database(credentials, service):
    urls = database_urls(credentials)
    other = next(s for s in catalogue.SERVICES if s != service)
    url = with_database(urls[service], urlsplit(urls[other]).path.lstrip("/"))
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await asyncpg.connect(url, timeout=10)


async def test_a_wrong_database_password_is_refused(credentials):
    url = with_password(database_urls(credentials)["notify"], "wrong-password")
    with pytest.raises(asyncpg.exceptions.InvalidPasswordError):
        await asyncpg.connect(url, timeout=10)
