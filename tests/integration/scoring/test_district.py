"""The district view (issue 19, docs/decisions/0022-district-view.md) on the real broker and database.

An extra scoring instance in district mode (`SCORING_DISTRICT_STREETS=pinghu=scoring.index,<made-up>`)
reads Pinghu's real published index and a made-up street's index topic (created here, with the
ACL line a district deployment is granted for another street's topic, and removed afterwards). It
shows both side by side, drills down to communities, keeps the newer of two updates whatever their
order, serves its page (screenshot in .local/artefacts/district-dashboard.png) and joins only its
own consumer group, never the street's.

The instance takes development HS256 tokens (`LS_OIDC_ISSUER=`): the provider's dashboard client
lists only the stack's own scoring port as a redirect URI, not this extra instance's."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.scoring.entrypoints.district import GROUP
from shared.events import topics
from shared.events.catalogue import IndexUpdated
from shared.events.envelope import envelop
from shared.http.auth import mint_token
from tests.conftest import load_credentials
from tests.integration.dashboard.browser import chromium
from tests.integration.replicas import extra_instances
from tests.support import ROOT, client, env, eventually, headers_of, kafka_auth, producer, read_topic

pytestmark = pytest.mark.integration

ARTEFACTS = ROOT / ".local" / "artefacts"
ASPECTS = ("planning", "organisation", "learning_publicity", "conditions", "implementation")
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _kafka_admin():
    import sys

    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import kafka_admin  # deploy/local/kafka_admin.py

    return kafka_admin


def _index(community: str, total: float, at: datetime) -> IndexUpdated:
    return IndexUpdated(community_id=community, total=total, aspects=dict.fromkeys(ASPECTS, total / 5),
                        computed_at=at)  # fmt: skip


async def _publish(topic: str, *events: IndexUpdated) -> None:
    """As the street's scoring publishes them (the codec's envelope), to the made-up street's topic;
    all to partition 0, so a later record says the earlier ones were consumed."""
    p = await producer("admin")
    try:
        for data in events:
            e = envelop(data, source="learnstreet/scoring")
            headers = [(k, v.encode()) for k, v in e.headers().items()]
            await (await p.send(topic, e.body(), key=e.key, headers=headers, partition=0))
    finally:
        await p.stop()


async def _groups(*group_ids: str) -> dict[str, tuple[str, int]]:
    """(state, member count) per group, described one at a time (aiokafka fails to decode a
    response describing several)."""
    admin = AIOKafkaAdminClient(**kafka_auth("admin"))
    await admin.start()
    try:
        out = {}
        for group_id in group_ids:
            out[group_id] = ("Unknown", 0)
            for response in await admin.describe_consumer_groups([group_id]):
                for error_code, _gid, state, _ptype, _protocol, members, *_ in response.groups:
                    if error_code == 0:
                        out[group_id] = (state, len(members))
        return out
    finally:
        await admin.close()


@pytest.fixture
def made_up_street():
    """A made-up street's index topic, readable by the district's principal (the ACL line of
    ADR 0022), and gone afterwards with its ACLs and the district's rows of it."""
    kafka_admin = _kafka_admin()
    from confluent_kafka.admin import NewTopic

    street = f"dt{uuid.uuid4().hex[:6]}"
    topic = f"{street}.scoring.index"
    creds = load_credentials()
    admin = kafka_admin.AdminConnection.from_settings(creds).confluent_admin()
    principal = creds["SCORING_KAFKA_USERNAME"]
    acls = {("TOPIC", topic, "LITERAL", "READ"), ("TOPIC", topic, "LITERAL", "DESCRIBE")}
    # the street's dead-letter topic, and Write on it for the district: without it the district's dead
    # letters of this street are quarantined in its own database instead (ADR 0022, amendment)
    acls |= {("TOPIC", f"{topic}.dlq", "LITERAL", "WRITE"), ("TOPIC", f"{topic}.dlq", "LITERAL", "DESCRIBE")}
    spec = NewTopic(topic, 3, replication_factor=-1, config={"cleanup.policy": "compact"})
    dlq = NewTopic(f"{topic}.dlq", 1, replication_factor=-1)
    kafka_admin.wait_all(admin.create_topics([spec, dlq]), "CreateTopics")
    kafka_admin.create_acls(admin, {principal: acls})
    try:
        yield street, topic
    finally:
        from confluent_kafka.admin import AclBindingFilter

        filters = []
        for acl in acls:
            b = kafka_admin.binding(principal, acl)
            filters.append(AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                            b.operation, b.permission_type))  # fmt: skip
        kafka_admin.wait_all(admin.delete_acls(filters), "DeleteAcls")
        kafka_admin.wait_all(admin.delete_topics([topic, f"{topic}.dlq"]), "DeleteTopics")


async def _forget_rows(street: str) -> None:
    conn = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    try:
        await conn.execute("DELETE FROM district_index WHERE street = $1", street)
    finally:
        await conn.close()


async def test_the_district_shows_every_streets_published_index_side_by_side(made_up_street):
    street, topic = made_up_street
    secret = env()["LS_JWT_SECRET"]
    bearer = mint_token(secret, subject="district-op", role="operator", ttl_s=900)
    street_group = topics.group_id("scoring")
    before = (await _groups(street_group))[street_group]
    await _publish(topic, _index("street", 70.0, T0 + timedelta(seconds=10)), _index("nanling", 64.0, T0),
                   _index("xili", 58.5, T0))  # fmt: skip
    # a group of its own: a district of `make up STREETS=...` may be running in the default one
    group_id = f"{GROUP}-{street}"
    district_env = {"SCORING_DISTRICT_STREETS": f"pinghu=scoring.index,{street}", "LS_OIDC_ISSUER": "",
                    "SCORING_DISTRICT_GROUP": group_id}  # fmt: skip
    try:
        async with extra_instances("scoring", extra_env=district_env, wait_rebalanced=False) as group:
            instance = group.instances[0]
            headers = {"Authorization": f"Bearer {bearer}"}
            async with httpx.AsyncClient(base_url=instance.url, headers=headers, timeout=10) as http:

                async def both() -> dict | None:
                    view = (await http.get("/v1/district/index")).json()
                    by = {s["street"]: s for s in view["streets"]}
                    ready = by["pinghu"]["total"] is not None and by[street]["communities"] == 2
                    return view if ready else None

                view = await eventually(both, timeout_s=60)
                assert [s["street"] for s in view["streets"]] == ["pinghu", street]
                pinghu, other = view["streets"]
                assert pinghu["name_zh"] == "平湖街道" and pinghu["communities"] >= 1
                assert set(pinghu["aspects"]) == set(ASPECTS) and 0 <= pinghu["total"] <= view["max"]
                assert other["total"] == 70.0 and other["name_en"] == street  # no reference data: its id
                assert [a["id"] for a in view["aspects"]] == list(ASPECTS)

                # Pinghu's figure is what Pinghu's scoring publishes: its live street total, once published
                async with client("scoring", "operator") as street_api:

                    async def same_as_the_street() -> bool:
                        live = (await street_api.get("/v1/index/street")).json()["total"]
                        ours = (await http.get("/v1/district/index")).json()["streets"][0]["total"]
                        return abs(live - ours) < 1e-6

                    await eventually(same_as_the_street, timeout_s=60, every_s=0.5)

                # an older update delivered later does not overwrite; a newer one does
                await _publish(topic, _index("street", 10.0, T0), _index("marker", 1.0, T0))
                await eventually(lambda: _has(http, street, "marker"), timeout_s=30)
                assert (await http.get(f"/v1/district/streets/{street}")).json()["total"] == 70.0
                await _publish(topic, _index("street", 72.5, T0 + timedelta(seconds=20)))
                await eventually(lambda: _total_is(http, street, 72.5), timeout_s=30)

                # drill-down: a street's communities, highest first, with names where the district has them
                detail = (await http.get(f"/v1/district/streets/{street}")).json()
                assert [c["community_id"] for c in detail["communities"]] == ["nanling", "xili", "marker"]
                assert detail["communities"][0]["aspects"]["conditions"] == pytest.approx(64.0 / 5)
                ping = (await http.get("/v1/district/streets/pinghu")).json()
                names = {c["community_id"]: c["name_zh"] for c in ping["communities"]}
                assert names and all(names[c] != c for c in names), names  # reference names, not codes

                # an update dated beyond the allowed clock skew (5 minutes) is dead-lettered, not kept:
                # newer wins, so a street whose clock runs ahead would pin its row
                ahead = datetime.now(UTC) + timedelta(hours=1)
                await _publish(topic, _index("street", 99.0, ahead), _index("marker", 2.0, T0 + timedelta(seconds=30)))
                await eventually(lambda: _marker_is(http, street, 2.0), timeout_s=30)
                assert (await http.get(f"/v1/district/streets/{street}")).json()["total"] == 72.5
                letters = await read_topic(f"{topic}.dlq", until=lambda rs: len(rs) >= 1, timeout_s=30)
                letter = headers_of(letters[0])
                assert letter["dlq_reason"] == "computed_at_in_future", letter
                assert "SCORING_DISTRICT_MAX_CLOCK_SKEW_S" in letter["dlq_error_message"], letter
                metrics = (await http.get("/metrics")).text
                counted = f'learnstreet_dead_lettered_total{{reason="computed_at_in_future",topic="{topic}"}} 1.0'
                assert counted in metrics, [m for m in metrics.splitlines() if "dead_lettered" in m]

                missing = await http.get("/v1/district/streets/nowhere")
                assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["body", "street"]
                assert "未知街道" in missing.text and "unknown street" in missing.text

                # operators and assessors only; a street instance's routes are not served here
                for role, status in (("assessor", 200), ("community_worker", 403), ("resident", 403)):
                    tok = mint_token(secret, subject=f"d-{role}", role=role, ttl_s=300, community_id="xinnan")
                    r = await http.get("/v1/district/index", headers={"Authorization": f"Bearer {tok}"})
                    assert r.status_code == status, (role, r.text)
                assert (await http.get("/v1/district/index", headers={"Authorization": ""})).status_code == 401
                assert (await http.get("/v1/index")).status_code == 404

                # the page: public (no data in it), same security headers as the dashboard
                page = await http.get("/district", headers={"Authorization": ""})
                assert page.status_code == 200 and "text/html" in page.headers["content-type"]
                assert "script-src 'self'" in page.headers["content-security-policy"]

            # the district joined only its own group: the street's group kept its members
            groups = await _groups(street_group, group_id)
            assert groups[group_id] == ("Stable", 1), groups
            assert groups[street_group] == before, (before, groups)

            await _page(instance.url, bearer, street)
            await _report(instance.url, bearer, street)
    finally:
        await _forget_rows(street)


async def _has(http: httpx.AsyncClient, street: str, community: str) -> bool:
    detail = (await http.get(f"/v1/district/streets/{street}")).json()
    return any(c["community_id"] == community for c in detail["communities"])


async def _marker_is(http: httpx.AsyncClient, street: str, total: float) -> bool:
    detail = (await http.get(f"/v1/district/streets/{street}")).json()
    return any(c["community_id"] == "marker" and c["total"] == total for c in detail["communities"])


async def _total_is(http: httpx.AsyncClient, street: str, total: float) -> bool:
    return (await http.get(f"/v1/district/streets/{street}")).json()["total"] == total


async def _report(url: str, bearer: str, street: str) -> None:
    """`learnstreet report --district` against the district instance: both streets and their communities."""
    out = ROOT / ".local" / "reports" / f"district-test-{street}.html"
    command = [str(ROOT / ".venv" / "bin" / "learnstreet"), "report", "--district", "--period", "2026",
               "--district-url", url, "--token", bearer, "--out", str(out)]  # fmt: skip
    run = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-1000:] + run.stderr[-1000:]
    page = out.read_text(encoding="utf-8")
    assert "平湖街道" in page and street in page and "72.5" in page and "nanling" in page
    assert "新南" in page  # Pinghu's communities by their names
    out.unlink()


ROWS = """const rows = Array.from(document.querySelectorAll(arguments[0]));
return rows.length >= arguments[1] && rows.map(r => r.textContent)"""


async def _page(url: str, bearer: str, street: str) -> None:
    async with chromium() as browser:
        await browser.open(f"{url}/district?token={bearer}")
        rows = await browser.wait_for(ROWS, "#streets-body tr", 2, timeout_s=30)
        assert "平湖街道" in rows[0] and street in rows[1] and "72.5" in rows[1], rows
        assert "token=" not in await browser.url(), "the token must leave the address bar"
        assert await browser.wait_for(ROWS, "#street-bars .bar-row", 2)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        await browser.screenshot(ARTEFACTS / "district-dashboard.png")
        await browser.js("document.getElementById('lang').click()")
        head = await browser.wait_for(ROWS, "#streets-head th", 7)
        assert head[0] == "Street" and "Total" in head, head
        # drill-down to Pinghu's communities, by the street's link
        await browser.js("document.querySelector('#streets-body tr[data-street=\"pinghu\"] a').click()")
        communities = await browser.wait_for(ROWS, "#communities-body tr", 1, timeout_s=30)
        assert any("Xinnan" in r or "Hehua" in r or "Bainikeng" in r for r in communities), communities
        await browser.screenshot(ARTEFACTS / "district-dashboard-pinghu-en.png")
