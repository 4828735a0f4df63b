"""`make demo`: a realistic Pinghu street on the running platform, then what an operator sees.

Run by `make demo` after `make up`; `.venv/bin/python -m deploy.demo --help` for options.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from rich.console import Console
from rich.table import Table

from deploy.demo import erasure, simulate
from deploy.demo import residents as residents_side
from deploy.demo.dataset import ROOT, generate
from services.enrolment.entrypoints.consumers import PASSPORT_GROUP
from shared.events.topics import SERVICES, TOPICS, group_id
from shared.local_env import kafka_client_kwargs, read_credentials
from shared.reference import DEFAULT_DIR, load_reference
from shared.report import command as report_command
from shared.report.fetch import Endpoints, ReportError
from shared.report.model import BEIJING

console = Console(width=max(150, Console().width))
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def admin_kwargs(env: dict[str, str]) -> dict:
    return kafka_client_kwargs("admin", env)


# The street's consumer groups: each service's, and enrolment's passport projection, which reads
# attendance, residents and honours under a group of its own.
DEMO_GROUPS = (*(group_id(service) for service in SERVICES), PASSPORT_GROUP)


async def total_lag(env: dict[str, str]) -> int:
    """Records the street's consumer groups have yet to commit, on the topics each group reads (those
    it has committed offsets on; every partition of such a topic counts). Counting every topic a
    service reads under the service's own group counted the passport's topics, which its own group
    commits, as never read: the lag never reached 0, and each wait below ran its full timeout."""
    admin = AIOKafkaAdminClient(**admin_kwargs(env))
    consumer = AIOKafkaConsumer(group_id=None, **admin_kwargs(env))
    await admin.start()
    await consumer.start()
    try:
        lag = 0
        for group in DEMO_GROUPS:
            offsets = await admin.list_consumer_group_offsets(group)
            read = {tp.topic for tp in offsets}
            if not read:
                continue
            partitions = [TopicPartition(t, p) for t in read for p in (consumer.partitions_for_topic(t) or ())]
            if not partitions:
                await consumer._client.force_metadata_update()  # topics not yet in this client's metadata
                partitions = [TopicPartition(t, p) for t in read for p in (consumer.partitions_for_topic(t) or ())]
            ends = await consumer.end_offsets(partitions)
            for tp, end in ends.items():
                committed = offsets.get(tp)
                lag += end - (committed.offset if committed is not None and committed.offset >= 0 else 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def metric_samples(client, name: str) -> list[tuple[dict[str, str], float]]:
    text = (await client.get("/metrics")).text
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            out.append((labels, float(line.rsplit(" ", 1)[1])))
    return out


async def quiesce(platform: simulate.Platform, env: dict[str, str], timeout_s: float = 150.0) -> float:
    """Wait until every consumer group has caught up and the effects have settled: notify has
    stopped sending (messages due later, such as reminders, stay scheduled) and scoring has
    stopped awarding, over three polls in a row."""
    started = time.monotonic()
    seen: list[tuple] = []
    with console.status("等待系统处理完毕 waiting for every service to catch up…"):
        while time.monotonic() - started < timeout_s:
            try:
                lag = await total_lag(env)
                notify = platform.http["notify"]
                sent = sum(v for _, v in await metric_samples(notify, "learnstreet_notify_messages_total"))
                honours = await platform.http["scoring"].get("/v1/honours", params={"limit": 1000},
                                                             headers=platform.operator)  # fmt: skip
            except httpx.TransportError:  # a service restarting (an operator, a rollout): not settled yet
                seen.clear()
                await asyncio.sleep(2.0)
                continue
            seen.append((lag, sent, len(honours.json().get("items", []))))
            if len(seen) >= 3 and seen[-1][0] == 0 and len(set(seen[-3:])) == 1:
                return time.monotonic() - started
            await asyncio.sleep(2.0)
    console.print(f"[yellow]still busy after {timeout_s:.0f}s; showing what is there")
    return time.monotonic() - started


async def dead_letters(env: dict[str, str]) -> Counter:
    reasons: Counter = Counter()
    for spec in TOPICS:
        if not spec.consumers:
            continue
        consumer = AIOKafkaConsumer(spec.dlq, group_id=None, auto_offset_reset="earliest", **admin_kwargs(env))
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=800)
                if not batch:
                    break
                for records in batch.values():
                    for r in records:
                        h = {k: (v or b"").decode("utf-8", "replace") for k, v in (r.headers or ())}
                        reasons[(spec.name, h.get("dlq_reason", "?"))] += 1
        finally:
            await consumer.stop()
    return reasons


async def select_honours(platform: simulate.Platform) -> Counter:
    """The selection (评选) the street runs on the rules' candidates: each community workstation approves
    its candidates, the street approves them within the indicator file's quotas (a full quota answers
    409 and the candidate stays approved by its community only); the approved then stand in their
    notice period (公示) until the index leader awards them when it ends."""
    scoring, op = platform.http["scoring"], platform.operator
    outcome: Counter = Counter()
    candidates = (await scoring.get("/v1/honour-candidates", params={"limit": 1000}, headers=op)).json()["items"]
    with console.status(f"评选 selecting among {len(candidates)} candidates…"):
        for c in candidates:
            body = {"decision": "approved"}
            r = await scoring.post(f"/v1/honours/{c['honour_id']}/community-review", json=body, headers=op)
            if r.status_code != 200:
                outcome[f"community review {r.status_code}"] += 1
                continue
            r = await scoring.post(f"/v1/honours/{c['honour_id']}/street-review", json=body, headers=op)
            outcome["in notice (公示)" if r.status_code == 200 else "over quota" if r.status_code == 409 else
                    f"street review {r.status_code}"] += 1  # fmt: skip
    console.print("评选 selection: " + ", ".join(f"{k} {n}" for k, n in outcome.most_common()))
    return outcome


async def show(platform: simulate.Platform, env: dict[str, str], tally: simulate.Tally, started: float) -> str:
    op = platform.operator
    overview = (await platform.http["scoring"].get("/v1/index", headers=op)).json()
    indicators = (await platform.http["scoring"].get("/v1/indicators", headers=op)).json()
    aspects = indicators["aspects"]
    table = Table(
        title=f"实时学习指数 Live learning index (满分 out of {overview['max']:g}, "
        f"{overview.get('indicators_version')})"
    )
    table.add_column("社区 Community")
    for a in aspects:
        table.add_column(f"{a['name_zh']}\n{a['name_en']} /{a['max']:g}", justify="right")
    table.add_column("总分 Total", justify="right", style="bold")
    rows = sorted(overview["communities"], key=lambda c: (c["community_id"] != "street", -c["total"]))
    for c in rows:
        name = f"{c.get('name_zh', '')} {c.get('name_en', c['community_id'])}"  # the street's too, from scoring
        table.add_row(name, *[f"{c['aspects'].get(a['id'], 0):.1f}" for a in aspects], f"{c['total']:.1f}",
                      style="bold cyan" if c["community_id"] == "street" else None)  # fmt: skip
    console.print(table)

    rect = {}
    for c in rows:
        rect[c["community_id"]] = (await platform.http["scoring"].get(
            f"/v1/index/{c['community_id']}/rectification", headers=op)).json()["items"]  # fmt: skip
    rt = Table(title="整改清单 Rectification list (street; count per community below)")
    for col in ("指标 Indicator", "当前值 Value", "差距 Gap", "整改措施 What would close it"):
        rt.add_column(col)
    for item in rect.get("street", [])[:12]:
        rt.add_row(item["indicator_id"], str(item.get("value")), str(item.get("gap")),
                   f"{item.get('action_zh', '')}\n{item.get('action_en', '')}")  # fmt: skip
    console.print(rt)
    console.print("各社区待整改项 items below pass line: " + ", ".join(
        f"{cid} {len(items)}" for cid, items in rect.items() if cid != "street"))  # fmt: skip

    honours = (
        await platform.http["scoring"].get("/v1/honours", params={"limit": 1000, "state": "all"}, headers=op)
    ).json()["items"]
    ht = Table(title=f"评选表彰 Honours by selection state ({len(honours)})")
    ht.add_column("荣誉 Honour")
    ht.add_column("状态 State")
    ht.add_column("数量 Count", justify="right")
    by_state = Counter((h.get("name_zh"), h.get("name_en"), h.get("state", "awarded")) for h in honours)
    for (zh, en, state), n in sorted(by_state.items()):
        ht.add_row(f"{zh} {en}", state, str(n))
    console.print(ht)

    nt = Table(title="通知 Notifications by channel and status")
    for col in ("渠道 Channel", "状态 Status", "数量 Count"):
        nt.add_column(col)
    sent = Counter()
    for labels, value in await metric_samples(platform.http["notify"], "learnstreet_notify_messages_total"):
        sent[(labels.get("channel", "?"), labels.get("status", "?"))] += value
    for (channel, status), n in sorted(sent.items()):
        if n:
            nt.add_row(channel, status, f"{n:.0f}")
    console.print(nt)

    dlq = await dead_letters(env)
    dt = Table(title=f"死信 Dead letters ({sum(dlq.values())})")
    for col in ("主题 Topic", "原因 Reason", "数量 Count"):
        dt.add_column(col)
    for (topic, reason), n in dlq.most_common():
        dt.add_row(topic, reason, str(n))
    console.print(dt)

    # the product command's report (`learnstreet report`), not one of the demo's own
    endpoints = Endpoints(scoring=str(platform.http["scoring"].base_url).rstrip("/"),
                          activities=str(platform.http["activities"].base_url).rstrip("/"))  # fmt: skip
    token = op["Authorization"].removeprefix("Bearer ")
    period = str(datetime.now(UTC).astimezone(BEIJING).year)
    try:
        written = await asyncio.to_thread(report_command.write_report, endpoints, token, period=period, pdf=True)
        path = f"{written.html}" + (f"\n                          {written.pdf}" if written.pdf else "")
    except ReportError as error:
        console.print(f"[yellow]自评报告 report: {error}", soft_wrap=True)
        path = f".venv/bin/learnstreet report --period {period} --pdf"

    console.print(
        f"\n[bold]签到 check-ins[/]: {tally.checkins_sent} sent ({tally.checkins_http} via HTTP gateway), "
        f"{tally.duplicates} duplicates, {tally.late} from an offline kiosk, {tally.malformed} malformed"
    )
    console.print(f"[bold]报名 enrolments[/]: {dict(tally.enrolled)}; {tally.cancelled} cancellations")
    e = env
    token_hint = (
        ".venv/bin/python deploy/local/keycloak.py token demo-operator"  # the services take Keycloak's tokens
        if e.get("LS_OIDC_ISSUER")
        else ".venv/bin/learnstreet token --role operator"
    )
    console.print(f"""
[bold]打开 Open[/]
  仪表盘 dashboard        http://127.0.0.1:{e.get("SCORING_HTTP_PORT", 8103)}/dashboard
  自评报告 report          {path}
  邮件 delivered mail      {ROOT / ".local" / "mail"}
  短信 SMS gateway log     {ROOT / ".local" / "sms" / "messages.jsonl"}
  指标 metrics             http://127.0.0.1:8101/metrics … :8104/metrics
  API docs                http://127.0.0.1:8101/docs (activities), :8102 enrolment, :8103 scoring, :8104 notify
  令牌 operator token      {token_hint}
[bold]用时 elapsed[/] {time.monotonic() - started:.0f} s""")
    return path


def anchor_time(run_id: str) -> datetime:
    """The demo's "now", kept from the first run of a street so a rerun finds the same sessions."""
    path = ROOT / ".local" / f"demo-anchor-{run_id}"
    if path.exists():
        return datetime.fromisoformat(path.read_text().strip())
    now = datetime.now(UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(now.isoformat())
    return now


async def main(residents: int, courses: int, run_id: str) -> None:
    started = time.monotonic()
    env = read_credentials()
    street = generate(residents=residents, courses=courses, run=run_id)
    now = anchor_time(run_id)
    p = simulate.plan(street, now)
    named = load_reference(DEFAULT_DIR).street  # the reference data the dataset is generated from
    console.print(f"[bold]{named.name_zh} {named.name_en}[/]: {len(street.communities)} communities, "
                  f"{len(street.venues)} venues, "
                  f"{len(street.courses)} courses, {len(p.past) + len(p.upcoming) + len(p.live)} sessions, "
                  f"{len(street.residents)} residents, {len(p.attendance)} planned attendances")  # fmt: skip
    platform = simulate.Platform(env)
    await platform.start()
    tally = simulate.Tally()
    try:
        with simulate.progress_bar() as progress:
            await simulate.load_street(platform, street, p, tally, progress)
            await simulate.vote_needs(platform, street, tally, progress)
            live = await simulate.enrol(platform, street, p, tally, progress)
            await simulate.scan(platform, p, live, tally, progress)
            await simulate.assess(platform, street, tally, progress)
            await simulate.competition(platform, street, tally)
        waited = await quiesce(platform, env)
        console.print(f"caught up in {waited:.1f} s")
        year = now.astimezone(BEIJING).year
        survey_id = f"{run_id}-needs-{year}"
        with simulate.progress_bar() as progress:  # ratings need the attendance the scans recorded
            await simulate.feedback(platform, street, p, tally, progress, survey_id)
        waited = await quiesce(platform, env)
        await select_honours(platform)
        await residents_side.show(platform, street, run_id, year, survey_id)
        await erasure.show(platform, street)
        await show(platform, env, tally, started)
    finally:
        await platform.stop()


@app.command()
def run(
    residents: int = typer.Option(20_000, min=200, help="residents in the sample"),
    courses: int = typer.Option(200, min=12, help="courses over the themes"),
    run_id: str = typer.Option("pinghu", "--run", help="id prefix; another prefix loads a second street", min=1),
) -> None:
    """Load the Pinghu street and simulate several weeks through the platform's real interfaces."""
    if not re.fullmatch(r"[a-z0-9-]{1,20}", run_id):
        console.print("[red]error:[/] --run takes 1-20 lowercase letters, digits or dashes, e.g. --run pinghu2")
        raise typer.Exit(2)
    asyncio.run(main(residents, courses, run_id))


if __name__ == "__main__":
    app()
