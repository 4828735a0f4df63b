"""The privacy side of the demo (ADR 10, issue 17): one resident of the street has asked to be
erased. What each service holds about them is shown, two operators erase them (one asks, another
approves), every service reports its completion, each service's data export then comes back
empty, the learning index stays as it was, and a full read of every topic with the admin principal
shows what Kafka still holds (`learnstreet privacy find-in-topics`, the same code). Everything
goes through the services' public APIs, as the street's data-protection officer would.

The resident is the same on every run of a street (the first by id with an e-mail, so that all
three of card, phone and e-mail are looked for); a rerun's import reports them as erased and does
not register them again (ADR 10), so the erasure is shown on a street's first run.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from deploy.demo import simulate
from deploy.demo.dataset import Resident, Street
from shared import privacy_topics
from shared.events.topics import all_topic_specs
from shared.local_env import kafka_client_kwargs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".local" / "demo"
SERVICES = ("activities", "enrolment", "scoring", "notify")
PURPOSE = {"X-Access-Purpose": "erasure request: what is held before and after"}
APPROVER = "demo-dpo"  # the street's data-protection officer approves the desk's request
console = Console(width=max(150, Console().width))  # as the demo's own tables


def chosen(street: Street) -> Resident:
    return min((r for r in street.residents if r.email), key=lambda r: r.resident_id)


async def held_rows(platform: simulate.Platform, resident_id: str) -> dict[str, int]:
    """Rows per service in the resident's data export (their access log not counted)."""
    rows = {}
    for service in SERVICES:
        r = await platform.http[service].get(f"/v1/residents/{resident_id}/data-export",
                                             headers={**platform.operator, **PURPOSE})  # fmt: skip
        r.raise_for_status()
        rows[service] = sum(len(v) for v in r.json().get("tables", {}).values())
    return rows


async def street_index(platform: simulate.Platform) -> tuple[float, str]:
    r = await platform.http["scoring"].get("/v1/index/street", headers=platform.operator)
    r.raise_for_status()
    return r.json()["total"], r.json()["computed_at"]


async def show(platform: simulate.Platform, street: Street) -> None:
    resident = chosen(street)
    rid = resident.resident_id
    console.rule("[bold]个人信息删除 Erasure of a resident (ADR 10)")
    before = await held_rows(platform, rid)
    index_before, _ = await street_index(platform)
    requested = datetime.now(UTC)
    r = await platform.http["enrolment"].post(
        f"/v1/residents/{rid}/erasure",
        json={"reason": "the resident's written request (demo)", "approved_by": APPROVER},
        headers=platform.operator,
    )
    if r.status_code == 404:
        # a rerun of the street: the resident was erased by an earlier run, and their id and card
        # are not registered again (the import reports them as erased)
        console.print(
            f"  居民 {rid} 已在此前的运行中删除 erased by an earlier run of this street; not registered again"
        )
        return
    if r.status_code != 201:
        console.print(f"[yellow]删除 erasure of {rid}: HTTP {r.status_code} {r.text[:300]}", soft_wrap=True)
        return
    request_id = r.json()["request_id"]
    status = await _completed(platform, request_id)
    after = await held_rows(platform, rid)
    index_after = await _index_after(platform, requested)

    table = Table(title=f"居民 {rid[:4]}…{rid[-2:]} 删除请求 erasure request {request_id} (demo-operator asked, "
                        f"{APPROVER} approved)")  # fmt: skip
    columns = ("服务 Service", "删除前 rows before", "完成 completed at", "处理行数 rows changed", "删除后 rows after")
    for col in columns:
        table.add_column(col, justify="left" if col.startswith("服务") else "right")
    done = status.get("services", {})
    for service in SERVICES:
        mine = done.get(service) or {}
        table.add_row(service, str(before[service]), str(mine.get("erased_at", "pending"))[:19],
                      str(mine.get("erased_rows", "-")), str(after[service]))  # fmt: skip
    console.print(table)
    console.print(f"  学习指数 street index {index_before:.2f} before, {index_after:.2f} after the erasure")
    # activities cuts kiosk.checkins once the scans sent before the erasure are consumed (ADR 10)
    await _kiosk_scans_cut(platform)

    # the card is what identifies the resident; their id is enrolment's random one, which names
    # no one once the registry row and the card's map are gone
    needles = privacy_topics.needles_of(resident.card_number, resident.phone, resident.email)
    columns = (TextColumn("全量读取 reading every topic"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=None)
        findings = await privacy_topics.read_topics(
            kafka_client_kwargs("admin", platform.env), [s.name for s in all_topic_specs()], needles,
            on_start=lambda total: progress.update(task, total=total),
            on_progress=lambda n: progress.update(task, completed=n),
        )  # fmt: skip
    console.print(privacy_topics.findings_table(findings, list(needles)))
    held = privacy_topics.topics_holding(findings, list(needles))
    console.print(
        f"  Kafka 仍含该居民信息的主题 topics still holding the resident: {', '.join(held) or 'none / 无'}\n"
        "  (the contact stays on the compacted enrolment.contacts until its next compaction, superseded by a "
        "tombstone; the card travels only as a keyed digest, and kiosk.checkins is cut: ADR 10)",
        soft_wrap=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "erasure.json"
    document = {"request": status, "rows_before": before, "rows_after": after, "index": [index_before, index_after],
                "topics": privacy_topics.as_json(findings)}  # fmt: skip
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str) + b"\n")
    console.print(f"  全部结果 everything above: {path}")


async def _completed(platform: simulate.Platform, request_id: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        r = await platform.http["enrolment"].get(f"/v1/erasures/{request_id}", headers=platform.operator)
        r.raise_for_status()
        status = r.json()
        if status.get("complete") or time.monotonic() > deadline:
            return status
        await asyncio.sleep(1.0)


async def _kiosk_scans_cut(platform: simulate.Platform, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = (await platform.http["activities"].get("/metrics")).text
        waiting = re.search(r"^learnstreet_activities_erasures_awaiting_kiosk_trim (\S+)$", text, re.M)
        if waiting and float(waiting.group(1)) == 0:
            return
        await asyncio.sleep(1.0)
    console.print("[yellow]kiosk.checkins not yet cut for the erasure: the read below may still find its scans")


async def _index_after(platform: simulate.Platform, moment: datetime, timeout_s: float = 60.0) -> float:
    """The street's index once computed after `moment` (the erasure changed the inputs it reads)."""
    deadline = time.monotonic() + timeout_s
    while True:
        total, computed_at = await street_index(platform)
        if datetime.fromisoformat(computed_at) > moment or time.monotonic() > deadline:
            return total
        await asyncio.sleep(1.0)
