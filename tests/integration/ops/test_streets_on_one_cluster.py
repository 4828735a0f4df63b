"""Two streets on one Kafka cluster, over SASL_SSL, with the district view over both (issue 19's
done-when test; docs/decisions/0021, 0022, 0023).

`LS_STREETS=nanwan deploy/local/stack.py up` starts Nanwan's four services and the district
instance beside the running stack (Pinghu), exactly as `make up` does for an operator. Nanwan's
services and the district reach Kafka only through the brokers' TLS listener. The test then:
- checks Nanwan's topics carry the cluster's replication settings: min(3, brokers) replicas and
  min.insync.replicas 2 from three brokers (this module runs in `make test` on one broker and again
  in `make chaos-ci` on three);
- sends one check-in through Nanwan's kiosk topic, as a Nanwan kiosk: Nanwan records it, its
  scoring counts it, and the district shows Nanwan's new figure beside Pinghu's live one;
- checks Pinghu never saw it, Nanwan never sees Pinghu's course, and each street's principals are
  kept to their own topics by the ACLs;
- screenshots the district page with both streets (.local/artefacts/district-two-streets.png).

Processes it started are stopped afterwards; Nanwan's topics, principals and databases stay, as
Pinghu's do (a later run reuses them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from shared.bus import tls
from shared.events import topics
from shared.events.catalogue import ResidentRegistered
from shared.events.envelope import envelop
from tests.conftest import load_credentials
from tests.integration.dashboard import oidc_stack
from tests.integration.dashboard.browser import chromium
from tests.integration.ops.test_two_streets import join_and_read
from tests.support import ROOT, client, eventually, token, unique

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import kafka_admin  # deploy/local/kafka_admin.py
import streets  # deploy/local/streets.py
import topology as topo  # deploy/local/topology.py

pytestmark = pytest.mark.integration

STREET = "nanwan"
COMMUNITY = "shawan"
ARTEFACTS = ROOT / ".local" / "artefacts"


@pytest.fixture(scope="module")
def nanwan(tmp_path_factory) -> dict[str, str]:
    """Nanwan's settings, with its services and the district running (started here if not already)."""
    record = tmp_path_factory.mktemp("streets") / "started"
    stack = [str(ROOT / ".venv" / "bin" / "python"), "deploy/local/stack.py"]
    env = {**os.environ, "LS_STREETS": STREET}
    up = subprocess.run([*stack, "up", "--record", str(record)], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=900)  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
        creds = load_credentials()
        yield streets.settings(STREET, 1, creds, streets.secrets(STREET))
    finally:
        subprocess.run([*stack, "down", "--recorded", str(record)], cwd=ROOT, capture_output=True, timeout=300)


def street_auth(settings: dict[str, str], principal: str) -> dict:
    return tls.client_kwargs(settings["KAFKA_BOOTSTRAP"], settings[f"{principal.upper()}_KAFKA_USERNAME"],
                             settings[f"{principal.upper()}_KAFKA_PASSWORD"], settings["KAFKA_SECURITY_PROTOCOL"],
                             settings["KAFKA_SSL_CA_FILE"])  # fmt: skip


def street_client(settings: dict[str, str], service: str, *, port: int | None = None) -> httpx.AsyncClient:
    port = port or int(settings[f"{service.upper()}_HTTP_PORT"])
    headers = {"Authorization": f"Bearer {token('operator', 'streets-op')}"}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10.0)


def district_port() -> int:
    return int(load_credentials().get("SCORING_HTTP_PORT") or 8103) + streets.DISTRICT_PORT_OFFSET


async def send(auth: dict, topic: str, value: bytes, key: bytes, headers: list | None = None) -> None:
    producer = AIOKafkaProducer(**auth, acks="all", enable_idempotence=True, request_timeout_ms=15000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers or []), 30)
    finally:
        await producer.stop()


def process_environ(port: int) -> dict[str, str]:
    """The environment of the process listening on `port` (the running service, not our settings)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    pid = int(out.split("pid=")[1].split(",")[0])
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_second_streets_services_and_the_district_reach_kafka_over_tls_only(nanwan) -> None:
    tls_ports = {int(a.rsplit(":", 1)[1]) for a in load_credentials()["LS_KAFKA_TLS_BOOTSTRAP"].split(",")}
    ports = [int(nanwan[f"{s.upper()}_HTTP_PORT"]) for s in topics.SERVICES] + [district_port()]
    for port in ports:
        seen = process_environ(port)
        assert seen["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", port
        assert {int(a.rsplit(":", 1)[1]) for a in seen["KAFKA_BOOTSTRAP"].split(",")} == tls_ports, port
        assert Path(seen["KAFKA_SSL_CA_FILE"]).is_file()
    assert process_environ(ports[0])["LS_STREET_ID"] == STREET


def test_the_second_streets_topics_carry_the_clusters_replication_settings(nanwan) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    brokers = topo.current().brokers
    if os.environ.get("LS_KAFKA_BROKERS"):  # `make chaos-ci` runs this module on its three brokers
        assert brokers == int(os.environ["LS_KAFKA_BROKERS"])
    admin = kafka_admin.AdminConnection.from_settings(load_credentials()).confluent_admin()
    metadata = admin.list_topics(timeout=30)
    assert len(metadata.brokers) == brokers
    factor, min_insync = min(3, brokers), (2 if brokers >= 3 else 1)
    theirs = [f"{STREET}.{t.name}" for t in topics.all_topic_specs()]
    assert set(theirs) <= set(metadata.topics), sorted(set(theirs) - set(metadata.topics))
    for name in theirs:
        replicas = {len(p.replicas) for p in metadata.topics[name].partitions.values()}
        assert replicas == {factor}, (name, replicas)
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in theirs]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result(timeout=30)["min.insync.replicas"].value == str(min_insync), resource


async def test_a_check_in_in_one_street_reaches_its_index_and_the_district_and_never_the_other(nanwan) -> None:
    suffix = uuid.uuid4().hex[:8]
    venue, kiosk, course, session = f"v-{suffix}", f"k-{suffix}", f"c-{suffix}", f"s-{suffix}"
    resident = f"nw-{suffix}"
    starts = datetime.now(UTC) - timedelta(minutes=10)
    async with street_client(nanwan, "activities") as op:
        for path, body in (
            ("/v1/venues", {"venue_id": venue, "community_id": COMMUNITY, "name_zh": "沙湾社区党群服务中心",
                            "name_en": "Shawan service centre", "venue_type": "community_school", "capacity": 120,
                            "kiosk_ids": [kiosk]}),
            ("/v1/courses", {"course_id": course, "title_zh": "家庭急救", "title_en": "First aid", "theme": "health",
                             "provider_kind": "doctor"}),
            (f"/v1/courses/{course}/sessions", {"session_id": session, "venue_id": venue,
                                                 "starts_at": starts.isoformat(),
                                                 "ends_at": (starts + timedelta(minutes=90)).isoformat(),
                                                 "capacity": 30}),
        ):  # fmt: skip
            r = await op.post(path, json=body)
            assert r.status_code == 201, (path, r.text)
    # the registration as Nanwan's enrolment announces it, on Nanwan's topic
    registered = envelop(ResidentRegistered(resident_id=resident, community_id=COMMUNITY, audience_group="adult"),
                         source="tests")  # fmt: skip
    await send(street_auth(nanwan, "enrolment"), f"{STREET}.{registered.topic}", registered.body(),
               registered.key, [(k, v.encode()) for k, v in registered.headers().items()])  # fmt: skip

    async with street_client(nanwan, "scoring") as scoring, httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{district_port()}",
        headers={"Authorization": f"Bearer {token('operator', 'district-op')}"}, timeout=10.0,
    ) as district:  # fmt: skip

        async def participation() -> float:
            detail = (await scoring.get(f"/v1/index/{COMMUNITY}")).json()
            leaves = {i["id"]: i for a in detail["aspects"] for i in a["indicators"]}
            return leaves["implementation.participation_12m"]["value"] or 0.0

        before = await participation()
        scan = {"checkin_id": str(uuid.uuid4()), "kiosk_id": kiosk, "venue_id": venue, "resident_id": resident,
                "scanned_at": (starts + timedelta(minutes=5)).isoformat()}  # fmt: skip

        async def recorded() -> dict | None:
            # the kiosk may scan before activities has the registration: resend until it is recorded
            async with street_client(nanwan, "activities") as op:
                r = await op.get(f"/v1/checkins/{scan['checkin_id']}")
            return r.json() if r.status_code == 200 and r.json()["outcome"] == "recorded" else None

        await send(street_auth(nanwan, "kiosk"), f"{STREET}.{topics.KIOSK_CHECKINS.name}", orjson.dumps(scan),
                   resident.encode())  # fmt: skip
        assert (await eventually(recorded, timeout_s=60))["resident_id"] == resident

        # Nanwan's scoring counts one more learner; the district shows Nanwan's new figure
        await eventually(lambda: _above(participation, before), timeout_s=60)
        street_total = (await scoring.get("/v1/index/street")).json()["total"]
        assert street_total > 0

        async def district_has_it() -> dict | None:
            view = (await district.get("/v1/district/index")).json()
            by = {s["street"]: s for s in view["streets"]}
            ok = STREET in by and abs(by[STREET]["total"] - street_total) < 1e-6
            return by if ok else None

        by = await eventually(district_has_it, timeout_s=60, every_s=0.5)
        assert by[STREET]["name_zh"] == "南湾街道" and by[STREET]["communities"] == 10
        assert by["pinghu"]["name_zh"] == "平湖街道" and by["pinghu"]["communities"] == 12
        drill = (await district.get(f"/v1/district/streets/{STREET}")).json()
        names = {c["community_id"]: c["name_zh"] for c in drill["communities"]}
        assert names[COMMUNITY] == "沙湾" and "xinnan" not in names
        # Pinghu's row is Pinghu's own live figure, untouched by Nanwan's check-in
        async with client("scoring") as pinghu_scoring:

            async def pinghu_matches() -> bool:
                live = (await pinghu_scoring.get("/v1/index/street")).json()["total"]
                shown = {s["street"]: s for s in (await district.get("/v1/district/index")).json()["streets"]}
                return abs(shown["pinghu"]["total"] - live) < 1e-6

            await eventually(pinghu_matches, timeout_s=120, every_s=0.5)
            assert (await pinghu_scoring.get(f"/v1/index/{COMMUNITY}")).status_code == 404

    # Pinghu never saw the scan, the venue or the resident; Nanwan never sees Pinghu's course
    async with client("activities") as pinghu:
        assert (await pinghu.get(f"/v1/checkins/{scan['checkin_id']}")).status_code == 404
        pinghu_course = unique("course")
        r = await pinghu.post("/v1/courses", json={"course_id": pinghu_course, "title_zh": "书法",
                                                    "title_en": "Calligraphy", "theme": "arts"})  # fmt: skip
        assert r.status_code == 201, r.text
    async with client("enrolment") as pinghu_enrolment, street_client(nanwan, "enrolment") as nanwan_enrolment:
        await eventually(lambda: _status_is(pinghu_enrolment, f"/v1/courses/{pinghu_course}", 200), timeout_s=30)
        await eventually(lambda: _status_is(nanwan_enrolment, f"/v1/courses/{course}", 200), timeout_s=30)
        assert (await nanwan_enrolment.get(f"/v1/courses/{pinghu_course}")).status_code == 404
        assert (await pinghu_enrolment.get(f"/v1/courses/{course}")).status_code == 404

    await _district_page(nanwan)
    await _district_report()


async def test_each_streets_principals_keep_to_their_own_topics_over_tls(nanwan) -> None:
    # Nanwan's kiosk cannot write Pinghu's scans, and Nanwan's scoring cannot read Pinghu's attendance
    with pytest.raises(TopicAuthorizationFailedError):
        await send(street_auth(nanwan, "kiosk"), topics.KIOSK_CHECKINS.name, b"{}", b"k")
    with pytest.raises(TopicAuthorizationFailedError):
        await join_and_read(street_auth(nanwan, "scoring"), topics.ATTENDANCE.name, f"{STREET}.learnstreet.scoring.it")


async def _district_report() -> None:
    """`learnstreet report --district` from the district instance `make up STREETS=nanwan` runs."""
    out = ROOT / ".local" / "reports" / f"district-two-streets-{uuid.uuid4().hex[:6]}.html"
    command = [str(ROOT / ".venv" / "bin" / "learnstreet"), "report", "--district", "--period", "2026",
               "--token", token("operator", "district-op"), "--out", str(out)]  # fmt: skip
    environ = {**os.environ, "LS_DISTRICT_URL": f"http://127.0.0.1:{district_port()}"}
    run = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, env=environ, capture_output=True, text=True,
                                  timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout[-1000:] + run.stderr[-1000:]
    page = out.read_text(encoding="utf-8")
    assert "平湖街道" in page and "南湾街道" in page and "沙湾" in page and "新南" in page
    out.unlink()


async def _above(probe, before: float) -> bool:
    return await probe() > before


async def _status_is(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status


ROWS = """const rows = Array.from(document.querySelectorAll(arguments[0]));
return rows.length >= arguments[1] && rows.map(r => r.textContent)"""


async def _district_page(nanwan: dict[str, str]) -> None:
    """The page as an operator sees it: signed in through the provider's login form when the
    district takes its tokens (the realm lets the district's address sign in), else with a
    development token in the address."""
    url = f"http://127.0.0.1:{district_port()}"
    provider = oidc_stack.dashboard_issuer_creds(url)
    with contextlib.ExitStack() as stack:
        await _sign_in_and_look(url, provider, stack)


async def _sign_in_and_look(url: str, provider: dict[str, str] | None, stack: contextlib.ExitStack) -> None:
    async with chromium() as browser:
        if provider is None:
            await browser.open(f"{url}/district?token={token('operator', 'district-op')}")
        else:
            # a provider that imported the realm before the district had its address (a long-running
            # local Keycloak) learns it for the block; a fresh import has it (tests/unit/deploy/test_keycloak.py)
            allowed = oidc_stack.dashboard_client_allows(provider, url, "/district")
            stack.enter_context(allowed)
            await browser.open(f"{url}/district")
            await browser.wait_for(oidc_stack.SIGN_IN_SHOWN)
            await browser.js("document.getElementById('sign-in').click()")
            await browser.wait_for(oidc_stack.KEYCLOAK_FORM, timeout_s=60)
            await browser.js(
                "document.getElementById('username').value = arguments[0];"
                "document.getElementById('password').value = arguments[1];"
                "document.getElementById('kc-login').click()",
                "demo-operator", oidc_stack.password(provider, "demo-operator"),
            )  # fmt: skip
        rows = await browser.wait_for(ROWS, "#streets-body tr", 2, timeout_s=60)
        assert any("平湖街道" in r for r in rows) and any("南湾街道" in r for r in rows), rows
        assert "code=" not in await browser.url() and "token=" not in await browser.url()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        await browser.screenshot(ARTEFACTS / "district-two-streets.png")
        await browser.js(f"document.querySelector('#streets-body tr[data-street=\"{STREET}\"] a').click()")
        communities = await browser.wait_for(ROWS, "#communities-body tr", 10, timeout_s=30)
        assert any("沙湾" in r for r in communities), communities
        await browser.screenshot(ARTEFACTS / "district-two-streets-nanwan.png")
