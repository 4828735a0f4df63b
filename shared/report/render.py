"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network, so it
opens anywhere, is archived as it is, and prints (A4, page breaks between sections) to PDF."""

from __future__ import annotations

import html

from shared.report.model import Assessed, Link, Mark, Report

ASPECT_COLOURS = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2")

_TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "{scope}学习型街道建设自评报告（{period}年度）", "street": "街道", "period": "年度",
        "generated": "生成时间", "computed": "指数计算时间", "version": "指标体系", "total": "总分",
        "summary": "一、总体得分", "aspects": "五个方面得分", "communities": "各社区得分",
        "community": "社区", "venues": "学习阵地数", "below": "未达合格线指标数",
        "detail": "二、指标明细", "indicator": "指标", "kind": "类型", "value": "数值", "denominator": "分母 / 满分",
        "score": "得分", "pass_line": "合格线", "how": "计算方法",
        "assessments": "三、自评与专家评估", "self": "自评", "expert": "专家评估", "counted": "计入",
        "evidence": "佐证材料",
        "rectification": "四、整改清单", "gap": "差距", "action": "整改措施", "status": "状态", "owner": "责任方",
        "deadline": "期限", "overdue": "已逾期", "tasks": "整改任务", "opened": "立项时间", "updated": "最近更新",
        "honours": "五、评选表彰", "honour": "荣誉", "state": "状态", "count": "数量", "records": "评选过程记录",
        "recipient": "获评对象", "step": "环节", "who": "经办", "when": "时间", "note": "说明",
        "left_out": "另有 {n} 项荣誉未列出评选记录（共 {total} 项）。", "none": "无",
        "notes": "说明：指数为实时学习指数（截至指数计算时间）；荣誉按评选年度统计；时间均为北京时间；"
                 "居民身份号码仅显示末四位。",
    },
    "en": {
        "title": "{scope}: learning-street self-assessment report, {period}", "street": "Street",
        "period": "Period", "generated": "Generated", "computed": "Index computed", "version": "Indicator set",
        "total": "Total", "summary": "1. Overall score", "aspects": "Score per aspect",
        "communities": "Communities", "community": "Community", "venues": "Learning venues",
        "below": "Indicators below pass line", "detail": "2. Indicators", "indicator": "Indicator", "kind": "Kind",
        "value": "Value", "denominator": "Denominator / out of", "score": "Score", "pass_line": "Pass line",
        "how": "How computed", "assessments": "3. Self-assessment and expert assessment", "self": "Self",
        "expert": "Expert", "counted": "Counted", "evidence": "Evidence", "rectification": "4. Rectification list",
        "gap": "Gap", "action": "What closes it", "status": "Status", "owner": "Owner", "deadline": "Deadline",
        "overdue": "overdue", "tasks": "Rectification tasks", "opened": "Opened", "updated": "Last change",
        "honours": "5. Honours", "honour": "Honour", "state": "State", "count": "Count",
        "records": "Selection records", "recipient": "Recipient", "step": "Step", "who": "By", "when": "When",
        "note": "Note", "left_out": "{n} more honours without their record here ({total} in all).", "none": "none",
        "notes": "Notes: the index is the live learning index as of the time it was computed; honours are those "
                 "of the selection year; every time is Beijing time; residents' card numbers show their last four "
                 "characters only.",
    },
}  # fmt: skip

_CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
       sans-serif; color: #111827; margin: 0 auto; max-width: 1100px; padding: 24px; font-size: 13px;
       line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 2px solid #1f2937; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: #4b5563; margin: 0 0 4px; }
.total { font-size: 34px; font-weight: 700; margin: 8px 0; }
.total small { font-size: 15px; color: #4b5563; font-weight: 400; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; table-layout: auto; }
th, td { border: 1px solid #d1d5db; padding: 3px 6px; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; }
th { background: #f3f4f6; font-weight: 600; }
td.n { text-align: right; white-space: nowrap; }
td:first-child { min-width: 7.5em; }
td.name { white-space: nowrap; }
td.mark { min-width: 10em; }
tr.below td.score { color: #b91c1c; font-weight: 600; }
.overdue { color: #b91c1c; font-weight: 700; }
.status { white-space: nowrap; }
.key { display: inline-block; margin-right: 14px; }
.key i { display: inline-block; width: 11px; height: 11px; margin-right: 4px; vertical-align: -1px; }
.record { border: 1px solid #d1d5db; padding: 6px 8px; margin: 8px 0; break-inside: avoid; }
.record h4 { margin: 0 0 4px; font-size: 13px; }
.record table { table-layout: fixed; }
.record th:nth-child(1) { width: 20%; } .record th:nth-child(2) { width: 26%; }
.record th:nth-child(3) { width: 22%; }
.muted { color: #6b7280; }
a { color: #1d4ed8; }
svg { max-width: 100%; height: auto; }
svg text { font-family: inherit; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5px; }
  h2 { break-before: page; }
  h2.first { break-before: auto; }
  h2, h3, h4 { break-after: avoid; }
  tr, .record { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: underline; }
}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def bars(rows: list[tuple[str, float, float]], *, width: int = 680, label_w: int = 200, colour: str = "#2563eb") -> str:
    """Horizontal bars (label, score, out of), each scaled to its own maximum, score/max at the end."""
    bar, gap = 18, 8
    height = len(rows) * (bar + gap) + gap
    span = width - label_w - 90
    out = [f'<svg role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">']  # fmt: skip
    for i, (label, score, maximum) in enumerate(rows):
        y = gap + i * (bar + gap)
        share = 0.0 if maximum <= 0 else max(0.0, min(1.0, score / maximum))
        out.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" font-size="12">{_e(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{span}" height="{bar}" fill="#e5e7eb" rx="2"/>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{span * share:.1f}" height="{bar}" fill="{colour}" rx="2"/>')
        out.append(f'<text x="{label_w + span + 6}" y="{y + 13}" font-size="12">{score:.1f} / {maximum:g}</text>')
    out.append("</svg>")
    return "".join(out)


def stacked(rows: list[tuple[str, tuple[float, ...]]], maxima: tuple[float, ...], *, width: int = 680) -> str:
    """One bar per community: its aspects' scores end to end, on the scale of the full score."""
    bar, gap, label_w = 18, 8, 200
    height = len(rows) * (bar + gap) + gap
    scale = (width - label_w - 60) / (sum(maxima) or 1.0)
    out = [f'<svg role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">']  # fmt: skip
    for i, (label, scores) in enumerate(rows):
        y, x = gap + i * (bar + gap), float(label_w)
        out.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" font-size="12">{_e(label)}</text>')
        for j, score in enumerate(scores):
            w = max(0.0, score) * scale
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" '
                       f'fill="{ASPECT_COLOURS[j % len(ASPECT_COLOURS)]}"/>')  # fmt: skip
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 13}" font-size="12">{sum(scores):.1f}</text>')
    out.append("</svg>")
    return "".join(out)


def _links(links: tuple[Link, ...]) -> str:
    parts = []
    for link in links:
        text = _e(link.label if len(link.label) <= 200 else link.label[:199] + "…")
        parts.append(f'<a href="{_e(link.href)}">{text}</a>' if link.href else text)
    return "<br>".join(parts) or "—"


def _mark(m: Mark | None) -> str:
    if m is None:
        return "—"
    return f'<b>{m.score:g}</b><br><span class="muted">{_e(m.by)}<br>{_e(m.at)}</span>'


def _table(head: list[str], rows: list[str], empty: str) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(rows) or f'<tr><td colspan="{len(head)}">{_e(empty)}</td></tr>'
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def render(report: Report) -> str:
    t = _TEXT[report.lang]
    legend = "".join(
        f'<span class="key"><i style="background:{ASPECT_COLOURS[i % len(ASPECT_COLOURS)]}"></i>{_e(name)}</span>'
        for i, name in enumerate(report.aspect_names)
    )
    summary = [
        f'<p class="total">{report.total:.1f} <small>/ {report.max:g} {_e(t["total"])}</small></p>',
        f"<h3>{_e(t['aspects'])}</h3>",
        bars([(a.name, a.score, a.max) for a in report.aspects]),
    ]
    if report.communities:
        summary.append(f"<h3>{_e(t['communities'])}</h3>")
        if report.is_street:  # one community's bar would only repeat the aspect bars above
            summary.append(f"<p>{legend}</p>")
            summary.append(stacked([(c.name, c.aspects) for c in report.communities], report.aspect_maxima))
        rows = [
            f"<tr><td>{_e(c.name)}</td><td class='n'>{c.total:.1f} / {report.max:g}</td>"
            + "".join(f"<td class='n'>{s:.1f}</td>" for s in c.aspects)
            + f"<td class='n'>{c.below_pass_line}</td><td class='n'>{c.venues}</td></tr>"
            for c in report.communities
        ]
        out_of = zip(report.aspect_names, report.aspect_maxima, strict=True)
        head = [t["community"], t["total"], *(f"{n} /{m:g}" for n, m in out_of), t["below"], t["venues"]]
        summary.append(_table(head, rows, t["none"]))

    detail = []
    for aspect in report.aspects:
        rows = [
            f'<tr class="{"below" if leaf.below else "ok"}"><td>{_e(leaf.name)}</td>'
            f'<td class="status">{_e(leaf.kind)}</td>'
            f"<td class='n'>{_e(leaf.value)}</td><td>{_e(leaf.denominator)}</td>"
            f"<td class='n score'>{leaf.score:.2f} / {leaf.max:g}</td><td class='n'>{_e(leaf.pass_line)}</td>"
            f"<td>{_e(leaf.how)}</td></tr>"
            for leaf in aspect.leaves
        ]
        detail.append(f"<h3>{_e(aspect.name)} — {aspect.score:.1f} / {aspect.max:g}</h3>")
        detail.append(_table([t["indicator"], t["kind"], t["value"], t["denominator"], t["score"], t["pass_line"],
                              t["how"]], rows, t["none"]))  # fmt: skip

    def assessed_row(a: Assessed) -> str:
        return (f"<tr><td class='name'>{_e(a.community)}</td>"
                f"<td>{_e(a.indicator)} <span class='muted'>/{a.max:g}</span></td>"
                f"<td class='mark'>{_mark(a.self_mark)}</td><td class='mark'>{_mark(a.expert_mark)}</td>"
                f"<td class='status'>{_e(a.counted)}</td>"
                f"<td>{_links(a.evidence)}</td></tr>")  # fmt: skip

    assessments = _table([t["community"], t["indicator"], t["self"], t["expert"], t["counted"], t["evidence"]],
                         [assessed_row(a) for a in report.assessed], t["none"])  # fmt: skip

    def flag(overdue: bool) -> str:
        return f' <span class="overdue">{_e(t["overdue"])}</span>' if overdue else ""

    rectification = _table(
        [t["community"], t["indicator"], t["value"], t["gap"], t["action"], t["status"], t["owner"], t["deadline"]],
        [f"<tr><td>{_e(r.community)}</td><td>{_e(r.indicator)}</td><td class='n'>{_e(r.value)}</td>"
         f"<td class='n'>{_e(r.gap)}</td><td>{_e(r.action)}</td><td class='status'>{_e(r.status)}</td>"
         f"<td>{_e(r.owner)}</td><td class='status'>{_e(r.deadline)}{flag(r.overdue)}</td></tr>"
         for r in report.rectification],
        t["none"],
    )  # fmt: skip
    tasks = _table(
        [t["community"], t["indicator"], t["status"], t["owner"], t["deadline"], t["opened"], t["updated"]],
        [f"<tr><td>{_e(k.community)}</td><td>{_e(k.indicator)}</td><td class='status'>{_e(k.status)}</td>"
         f"<td>{_e(k.owner)}</td><td class='status'>{_e(k.deadline)}{flag(k.overdue)}</td><td>{_e(k.opened)}</td>"
         f"<td>{_e(k.updated)}</td></tr>" for k in report.tasks],
        t["none"],
    )  # fmt: skip

    counts = _table([t["honour"], t["state"], t["count"]],
                    [f"<tr><td>{_e(n)}</td><td>{_e(s)}</td><td class='n'>{c}</td></tr>"
                     for n, s, c in report.honour_counts], t["none"])  # fmt: skip
    records = []
    for r in report.honour_records:
        steps = _table([t["step"], t["who"], t["when"], t["note"]],
                       [f"<tr><td>{_e(s.what)}</td><td>{_e(s.who)}</td><td class='status'>{_e(s.when)}</td>"
                        f"<td>{_e(s.note)}</td></tr>" for s in r.steps], t["none"])  # fmt: skip
        records.append(f'<div class="record"><h4>{_e(r.name)} · {_e(r.recipient)} · {_e(r.community)} · '
                       f"{_e(r.state)}</h4>{steps}</div>")  # fmt: skip
    if report.records_left_out > 0:
        records.append(
            f"<p class='muted'>{_e(t['left_out'].format(n=report.records_left_out, total=report.honours_total))}</p>"
        )

    title = t["title"].format(scope=report.scope, period=report.period)
    scope_line = (
        f"{_e(t['street'])}：{_e(report.street)}"
        if report.lang == "zh-CN"
        else f"{_e(t['street'])}: {_e(report.street)}"
    )
    sep = "：" if report.lang == "zh-CN" else ": "
    return f"""<!doctype html>
<html lang="{_e(report.lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p class="meta">{scope_line} · {_e(t["period"])}{sep}{_e(report.period)} ·
 {_e(t["version"])}{sep}{_e(report.indicators_version)}</p>
<p class="meta">{_e(t["generated"])}{sep}{_e(report.generated)} · {_e(t["computed"])}{sep}{_e(report.computed)}</p>
<h2 class="first" id="summary">{_e(t["summary"])}</h2>
{"".join(summary)}
<h2 id="detail">{_e(t["detail"])}</h2>
{"".join(detail)}
<h2 id="assessments">{_e(t["assessments"])}</h2>
{assessments}
<h2 id="rectification">{_e(t["rectification"])}</h2>
{rectification}
<h3>{_e(t["tasks"])}</h3>
{tasks}
<h2 id="honours">{_e(t["honours"])}</h2>
{counts}
<h3>{_e(t["records"])}</h3>
{"".join(records) or _e(t["none"])}
<p class="muted">{_e(t["notes"])}</p>
</body></html>
"""
