"""The residents' side of the demo: a few learning passports (学习档案), an honour's Open Badges
credential verified and, once its honour is revoked, refused, and a learning-week broadcast (宣传)
with its delivery report. Everything goes through the services' public APIs, as a resident's
phone, a verifier or an operator would."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from deploy.demo import simulate
from deploy.demo.dataset import Street

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".local" / "demo"
console = Console()

# One announcement per street and year: a rerun finds the same broadcast (its id makes the
# request safe to retry) instead of messaging the residents twice.
LEARNING_WEEK_ZH = "全民终身学习活动周本月开幕，欢迎到社区党群服务中心和图书馆参加课程与讲座。"
LEARNING_WEEK_EN = (
    "Lifelong Learning Week opens this month: join the courses and talks at your community's "
    "party-and-mass service centre and library."
)


def _names(names: dict[str, str] | None, fallback: str) -> str:
    return f"{names.get('zh-CN', '')} {names.get('en', '')}".strip() if names else fallback


async def awarded_to_residents(platform: simulate.Platform, street: Street) -> list[dict[str, Any]]:
    """Honours of this street's residents (competition placings are awarded without a notice period)."""
    r = await platform.http["scoring"].get("/v1/honours", params={"limit": 1000, "state": "all"},
                                            headers=platform.operator)  # fmt: skip
    r.raise_for_status()
    ours = {resident.resident_id for resident in street.residents}
    items = [h for h in r.json()["items"] if h.get("recipient_kind") == "resident" and h["recipient_id"] in ours]
    return sorted(items, key=lambda h: str(h["honour_id"]))


async def agree_to_learning_record(platform: simulate.Platform, resident_ids: list[str]) -> None:
    """Passports, certificates and credentials are served only with the resident's learning_record
    consent (ADR 0019, amendment). The few shown here who have none (their form left it unticked,
    or an earlier run registered them before the notice's purposes) agree on the phone page, as it
    asks them to, under the notice's current version."""
    enrolment = platform.http["enrolment"]
    version = (await enrolment.get("/v1/privacy-notice")).json()["version"]
    await platform.prepare("resident", resident_ids)
    agreed = 0
    for rid in dict.fromkeys(resident_ids):
        headers = await platform.bearer("resident", rid)
        r = await enrolment.get(f"/v1/residents/{rid}/consents", headers=headers)
        granted = {p["purpose"] for p in r.json()["purposes"] if p["granted"]} if r.status_code == 200 else set()
        if "learning_record" in granted:
            continue
        r = await enrolment.put(f"/v1/residents/{rid}/consents/learning_record", json={"notice_version": version},
                                headers=headers)  # fmt: skip
        if r.status_code == 200:
            agreed += 1
        else:
            console.print(f"[yellow]同意 learning_record {rid}: HTTP {r.status_code} {r.text[:200]}")
    if agreed:
        console.print(f"  学习档案同意 {agreed} resident(s) agreed to learning_record before their passport is shown")


async def show_passports(platform: simulate.Platform, resident_ids: list[str]) -> None:
    table = Table(title="学习档案 Learning passports (GET /v1/residents/{id}/passport)")
    for col in ("居民 Resident", "年份 Year", "课次 Attended", "学时 Hours", "学分 Credits", "荣誉 Honours",
                "报名 Enrolments"):  # fmt: skip
        table.add_column(col, justify="left" if col.startswith("居民") or col.startswith("荣誉") else "right")
    for rid in resident_ids:
        r = await platform.http["enrolment"].get(f"/v1/residents/{rid}/passport", headers=platform.operator)
        if r.status_code != 200:
            table.add_row(rid, "-", "-", "-", "-", f"HTTP {r.status_code}", "-")
            continue
        passport = r.json()
        year = passport["years"][0] if passport["years"] else None
        honours = ", ".join(f"{_names(h['name'], h['kind'])} ({h['state']})" for h in passport["honours"]) or "-"
        waiting = sum(1 for e in passport["enrolments"] if e["status"] == "waitlisted")
        table.add_row(
            rid,
            str(year["year"]) if year else "-",
            str(year["attendances"]) if year else "0",
            f"{year['hours']:.1f}" if year else "0",
            f"{year['credits']:g}" if year else "0",
            honours,
            f"{len(passport['enrolments'])} ({waiting} 候补 waitlisted)",
        )
    console.print(table)


async def _verify(platform: simulate.Platform, credential: str) -> dict[str, Any]:
    # No token: anyone shown a credential may verify it.
    r = await platform.http["enrolment"].post("/v1/credentials/verify", json={"credential": credential})
    r.raise_for_status()
    return r.json()


async def _credential(platform: simulate.Platform, honour: dict[str, Any]) -> str | None:
    path = f"/v1/residents/{honour['recipient_id']}/credentials/{honour['honour_id']}"
    deadline = time.monotonic() + 60
    while True:  # the passport learns of an award through events: it may lag the scoring API a little
        r = await platform.http["enrolment"].get(path, headers=platform.operator)
        if r.status_code == 200:
            return r.text
        if r.status_code != 404 or time.monotonic() > deadline:
            console.print(f"[yellow]凭证 credential {honour['honour_id']}: HTTP {r.status_code} {r.text[:200]}")
            return None
        await asyncio.sleep(1.0)


async def show_credentials(platform: simulate.Platform, honours: list[dict[str, Any]]) -> None:
    """The first honour's credential verifies; the second (when there is one) is revoked at the
    street (scoring), its bit flips in the signed status list (enrolment), and the same file then
    fails as revoked."""
    OUT.mkdir(parents=True, exist_ok=True)
    roles = list(zip(("valid", "revoked"), honours, strict=False))
    files: dict[str, Path] = {}
    for label, honour in roles:
        token = await _credential(platform, honour)
        if token is None:
            return
        files[label] = OUT / f"credential-{label}.jwt"
        files[label].write_text(token)
    results = {"valid": await _verify(platform, files["valid"].read_text())}
    if "revoked" in files:
        revoked = honours[1]
        if revoked.get("state") != "revoked":
            body = {"reason": "演示撤销 revoked in the demo to show the status list"}
            r = await platform.http["scoring"].post(f"/v1/honours/{revoked['honour_id']}/revoke", json=body,
                                                     headers=platform.operator)  # fmt: skip
            if r.status_code not in (200, 409):
                console.print(f"[yellow]撤销 revoke: HTTP {r.status_code} {r.text[:200]}")
        deadline = time.monotonic() + 60
        while True:  # the revocation travels scoring → honour event → enrolment's status list
            results["revoked"] = await _verify(platform, files["revoked"].read_text())
            if results["revoked"]["reason"] == "revoked" or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    table = Table(title="开放徽章凭证 Open Badges 3.0 credentials (POST /v1/credentials/verify)")
    for col in ("文件 File", "荣誉 Achievement", "有效 Valid", "原因 Reason"):
        table.add_column(col)
    for label, result in results.items():
        summary = result.get("credential") or {}
        table.add_row(str(files[label].relative_to(ROOT)), str(summary.get("achievement") or "-"),
                      "✔ yes" if result["valid"] else "✘ no",
                      " ".join(x for x in (result.get("reason"), result.get("detail")) if x) or "-")  # fmt: skip
    console.print(table)
    console.print(f"  离线核验 verify offline: .venv/bin/learnstreet verify {files['valid'].relative_to(ROOT)}")


async def show_broadcast(platform: simulate.Platform, street: Street, run_id: str, year: int) -> None:
    community = street.communities[0]
    broadcast_id = uuid.uuid5(uuid.NAMESPACE_URL, f"learnstreet-demo/{run_id}/learning-week/{year}")
    body = {
        "broadcast_id": str(broadcast_id),
        "category": "learning_week",
        "message_zh": LEARNING_WEEK_ZH,
        "message_en": LEARNING_WEEK_EN,
        "audience": {"community_ids": [community.id]},
    }
    notify = platform.http["notify"]
    r = await notify.post("/v1/broadcasts", json=body, headers=platform.operator)
    if r.status_code not in (200, 201):
        console.print(f"[yellow]宣传 broadcast: HTTP {r.status_code} {r.text[:300]}")
        return
    deadline = time.monotonic() + 120
    with console.status(f"宣传 broadcasting the learning week to {community.name_zh} {community.name_en}…"):
        while True:  # messages are paced (NOTIFY_BROADCAST_RATE_PER_S); wait until none is pending
            report = (await notify.get(f"/v1/broadcasts/{broadcast_id}", headers=platform.operator)).json()
            if report["pending"] == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    table = Table(title=f"宣传报告 Broadcast report: learning week → {community.name_zh} {community.name_en}")
    for col in ("目标 Targeted", "无联系方式 No contact", "已发 Sent", "失败 Failed", "未发 Suppressed",
                "待发 Pending"):  # fmt: skip
        table.add_column(col, justify="right")
    table.add_row(*(str(report[k]) for k in ("targeted", "without_contact", "sent", "failed", "suppressed",
                                             "pending")))  # fmt: skip
    console.print(table)
    reasons = ", ".join(f"{k} {n}" for k, n in sorted(report["suppressed_by_reason"].items())) or "none"
    console.print(f"  未发原因 suppressed by reason: {reasons}; GET /v1/broadcasts/{broadcast_id} (notify)")


async def show_survey(platform: simulate.Platform, survey_id: str) -> None:
    r = await platform.http["activities"].get(f"/v1/surveys/{survey_id}/results", headers=platform.operator)
    if r.status_code != 200:
        console.print(f"[yellow]问卷 survey {survey_id}: HTTP {r.status_code} {r.text[:200]}")
        return
    results = r.json()
    table = Table(title=f"问卷结果 Survey results: {results['title_zh']} / {results['title_en']}")
    columns = ("社区 Community", "目标 Targeted", "作答 Answered", "回收率 Rate", "每周/每月/很少 Often",
               "想要的主题 Themes wanted", "满意度 Offer (1-5)")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col.startswith(("社区", "想要")) else "right")
    for c in results["communities"]:
        q = c["questions"]
        often = q.get("often", {}).get("options", {})
        themes = q.get("themes", {}).get("options", {})
        wanted = ", ".join(f"{k} {v}" for k, v in sorted(themes.items(), key=lambda kv: -kv[1]))
        mean = q.get("offer", {}).get("mean")
        table.add_row(c["community_id"], str(c["targeted"]), str(c["respondents"]), f"{c['response_rate']:.0%}",
                      "/".join(str(often.get(k, 0)) for k in ("weekly", "monthly", "rarely")), wanted or "-",
                      f"{mean:.2f}" if isinstance(mean, int | float) else "-")  # fmt: skip
    console.print(table)


async def record_past_awards(platform: simulate.Platform, street: Street, year: int) -> None:
    """Last year's learning stars from the street's paper list (an earlier 公示): awarded at once,
    so their credentials can be shown on a street set up today (a rerun finds them recorded)."""
    for resident in street.residents[:2]:
        body = {"kind": "learning_star", "recipient_id": resident.resident_id, "period": str(year - 1),
                "reason": "上年度百姓学习之星（纸质名单录入） last year's list, entered from paper",
                "decision_ref": f"平湖街〔{year - 1}〕学习之星名单"}  # fmt: skip
        r = await platform.http["scoring"].post("/v1/honours/past-awards", json=body, headers=platform.operator)
        if r.status_code not in (201, 409):
            console.print(f"[yellow]往年荣誉 past award: HTTP {r.status_code} {r.text[:200]}")


async def show(platform: simulate.Platform, street: Street, run_id: str, year: int, survey_id: str) -> None:
    await record_past_awards(platform, street, year)
    honours = await awarded_to_residents(platform, street)
    recipients = list(dict.fromkeys(h["recipient_id"] for h in honours))[:3]
    awarded = [h for h in honours if h.get("state") == "awarded"]
    # a rerun finds the one it revoked before, and revokes no second honour
    revoked = [h for h in honours if h.get("state") == "revoked"][:1] or awarded[1:2]
    await agree_to_learning_record(platform, recipients + [h["recipient_id"] for h in awarded[:1] + revoked])
    await show_passports(platform, recipients)
    if awarded:
        await show_credentials(platform, awarded[:1] + revoked)
    else:
        # Honours are awarded when their public notice (公示, the indicator file's notice_days) ends
        # with no objection open: on a street set up today, that is days away.
        ends = sorted(h["notice_ends_at"] for h in honours if h.get("state") == "in_notice" and h.get("notice_ends_at"))
        console.print(
            f"凭证 credentials: no honour of this street is awarded yet; {len(ends)} in notice (公示)"
            + (f", the first ends {ends[0]}: run the demo again after it to verify and revoke one" if ends else "")
        )
    await show_survey(platform, survey_id)
    await show_broadcast(platform, street, run_id, year)
