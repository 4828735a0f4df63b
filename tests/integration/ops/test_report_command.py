"""`learnstreet report` against the running stack (issue 14, "The report as a product command"): the
street's and one community's self-assessment report in both languages, read from the running
services, with names instead of codes, Beijing time, an honour's selection record and the
rectification tasks; `--pdf` prints it through headless Chromium, and a PNG of the page is kept
under .local/artefacts/ for the closing note.

The module sets up what it checks through the public APIs: a knowledge competition whose winner
goes through the community's review, the street's approval and a dismissed objection in the notice
period, and a rectification task on an item below its pass line."""

from __future__ import annotations

import html
import os
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.report import chromium
from tests.support import ROOT, service_url, token, unique

pytestmark = pytest.mark.integration
BEIJING = ZoneInfo("Asia/Shanghai")
YEAR = str(datetime.now(UTC).astimezone(BEIJING).year)
COMMUNITY, NAME_ZH, NAME_EN = "liangantian", "良安田", "Liang'antian"
ARTEFACTS = ROOT / ".local" / "artefacts"
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d (北京时间|Beijing time)")


def api(role: str, subject: str, community: str | None = None) -> httpx.Client:
    bearer = token(role, subject=subject, community_id=community)
    return httpx.Client(base_url=service_url("scoring"), headers={"Authorization": f"Bearer {bearer}"}, timeout=15)


@pytest.fixture(scope="module")
def selected() -> dict[str, str]:
    """An honour in its notice period after an objection was dismissed, and a rectification task."""
    run = unique("rep")
    quiz = f"{run}-quiz"
    with api("operator", f"{run}-street") as op, api("community_worker", f"ws-{COMMUNITY}", COMMUNITY) as ws, \
            api("resident", f"{run}-neighbour") as neighbour:  # fmt: skip
        setup = {"competition_id": quiz, "name_zh": "报告测试知识竞赛", "name_en": "report test quiz", "rounds": 1,
                 "places": 1}  # fmt: skip
        assert op.post("/v1/competitions", json=setup).status_code == 201
        results = {"period": YEAR, "round": 1,
                   "results": [{"place": 1, "resident_id": f"{run}-winner", "community_id": COMMUNITY}]}  # fmt: skip
        r = op.post(f"/v1/competitions/{quiz}/results", json=results)
        assert r.status_code == 201, r.text
        (honour,) = r.json()["nominated"]
        hid = honour["honour_id"]
        approve = {"decision": "approved"}
        assert ws.post(f"/v1/honours/{hid}/community-review", json=approve).status_code == 200
        assert op.post(f"/v1/honours/{hid}/street-review", json=approve).status_code == 200
        r = neighbour.post(f"/v1/honours/{hid}/objections", json={"reason": f"{run}: not at the final"})
        assert r.status_code == 201, r.text
        resolution = {"outcome": "dismissed", "reason": f"{run}: sign-in sheet of the final checked"}
        r = op.post(f"/v1/honours/{hid}/objections/{r.json()['objection_id']}/resolve", json=resolution)
        assert r.status_code == 200, r.text

        items = op.get(f"/v1/index/{COMMUNITY}/rectification").json()["items"]
        assert items, f"{COMMUNITY} has no indicator below its pass line to rectify"
        free = [i for i in items if i.get("task") is None]
        if free:  # an earlier run may have given every item its task already: one task is all we need
            body = {"community_id": COMMUNITY, "indicator_id": free[0]["indicator_id"], "owner_kind": "department",
                    "owner": f"街道党建办 {run}", "deadline": str(date.today() + timedelta(days=30))}  # fmt: skip
            r = op.post("/v1/rectification-tasks", json=body)
            assert r.status_code == 201, r.text
        tasks = op.get("/v1/rectification-tasks", params={"community_id": COMMUNITY, "limit": 1000}).json()["items"]
    return {"run": run, "honour_id": hid, "owner": tasks[0]["owner"], "deadline": tasks[0]["deadline"]}


def learnstreet(*args: str, **env: str) -> subprocess.CompletedProcess:
    # LS_TOKEN: the services may take an identity provider's tokens only (the command mints none then)
    environ = {**os.environ, "LS_TOKEN": token("operator", subject="report-test"), **env}
    return subprocess.run([str(ROOT / ".venv" / "bin" / "learnstreet"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=environ)  # fmt: skip


def report(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / f"report-{'-'.join(a.strip('-') for a in args)}.html"
    return learnstreet("report", *args, "--out", str(out)), out


def shown(page: str) -> str:
    """The page's text as a reader sees it: no style sheet, no tags, entities resolved."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<style>.*?</style>", "", page))).split())


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_street_report_names_everything_in_beijing_time_with_selection_records(selected, tmp_path, lang):
    done, out = report(tmp_path, "--period", YEAR, "--lang", lang)
    assert done.returncode == 0, done.stderr[-2000:]
    text = shown(out.read_text(encoding="utf-8"))
    zh = lang == "zh-CN"
    assert ("平湖街道学习型街道建设自评报告" if zh else "Pinghu Street: learning-street self-assessment report") in text
    for name in ("白坭坑", "凤凰", NAME_ZH) if zh else ("Bainikeng", "Fenghuang", NAME_EN):
        assert name in text
    assert ("近4周居民参与率" if zh else "Participation rate") in text
    assert ("常住人口（参考数据）" if zh else "reference population") in text  # a denominator named
    assert STAMP.search(text) and "+00:00" not in text
    # codes do not leak: a community id, an indicator id, an honour kind, a selection state
    for code in ("bainikeng", "implementation.participation_4w", "knowledge_competition", "in_notice"):
        assert not re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w.-])", text), code
    # the honour of this run with its record: nominated → reviewed → approved → objection → dismissed
    steps = ["提名", "社区审核通过", "街道审定，进入公示", "公示期异议", "异议不成立"] if zh else [
        "nominated", "community approved", "street approved, notice starts", "objection lodged",
        "objection dismissed"]  # fmt: skip
    operator = "街道管理员" if zh else "street operator"
    start = text.index(f"{steps[0]} {operator} {selected['run']}-street")
    record = text[start : start + 3000]
    positions = [record.find(s) for s in steps]
    assert -1 not in positions and positions == sorted(positions), (steps, positions)
    assert f"{selected['run']}: sign-in sheet of the final checked" in record
    assert f"{selected['run']}-winner" not in text  # the resident's id masked
    assert selected["owner"] in text and selected["deadline"] in text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_one_community_report_holds_that_community(selected, tmp_path, lang):
    done, out = report(tmp_path, "--period", YEAR, "--community", COMMUNITY, "--lang", lang)
    assert done.returncode == 0, done.stderr[-2000:]
    text = shown(out.read_text(encoding="utf-8"))
    zh = lang == "zh-CN"
    assert (f"{NAME_ZH}学习型街道建设自评报告" if zh else f"{NAME_EN}: learning-street self-assessment report") in text
    assert "白坭坑" not in text and "Bainikeng" not in text
    assert ("自评" if zh else "Self") in text and ("专家评估" if zh else "Expert") in text
    assert selected["owner"] in text
    assert ("整改任务" if zh else "Rectification tasks") in text
    assert STAMP.search(text)


def test_pdf_and_a_screenshot_of_the_page(selected, tmp_path):
    done, out = report(tmp_path, "--period", YEAR, "--community", COMMUNITY, "--pdf")
    assert done.returncode == 0, done.stderr[-2000:]
    pdf = out.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "report-community.pdf").write_bytes(pdf)
    png = chromium.screenshot(out, ARTEFACTS / "report-community.png", width=1280, height=2400)
    assert png.read_bytes().startswith(b"\x89PNG")
    street, street_out = report(tmp_path, "--period", YEAR, "--lang", "zh-CN")
    assert street.returncode == 0, street.stderr[-2000:]
    chromium.screenshot(street_out, ARTEFACTS / "report-street.png", width=1280, height=2400)


def test_errors_are_one_line_with_what_to_do(tmp_path):
    done, _ = report(tmp_path, "--period", "last-year")
    assert done.returncode == 2 and done.stderr.strip() == "error: --period takes a year such as 2026, not 'last-year'"
    done, _ = report(tmp_path, "--period", YEAR, "--community", "atlantis")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("error: unknown community 'atlantis'; known communities: bainikeng (白坭坑),")
    down = learnstreet("report", "--period", YEAR, "--out", str(tmp_path / "x.html"), ACTIVITIES_HTTP_PORT="9")
    lines = down.stderr.strip().splitlines()
    assert down.returncode == 2 and len(lines) == 1, down.stderr
    assert lines[0].startswith("error: activities is not answering at http://127.0.0.1:9") and "make up" in lines[0]
