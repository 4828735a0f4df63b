"""The street's self-assessment report (自评报告): one HTML file with charts, in zh-CN and en.

It is the document the city's evaluation team asks each street to prepare: each aspect and
indicator with its value and how it was computed, the evidence recorded by assessors, and the
rectification list. Charts are inline SVG, so the file opens anywhere without a network.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any

ASPECT_COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626"]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _bilingual(zh: Any, en: Any) -> str:
    return f'<span lang="zh-CN">{_e(zh)}</span><span class="en" lang="en">{_e(en)}</span>'


def bar_chart(rows: list[tuple[str, float]], maximum: float, *, width: int = 640, bar: int = 22) -> str:
    """Horizontal bars, one per row (label, value), scaled to `maximum`."""
    label_w, height = 150, len(rows) * (bar + 6) + 10
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, value) in enumerate(rows):
        y = 5 + i * (bar + 6)
        w = 0 if maximum <= 0 else (width - label_w - 60) * max(0.0, min(1.0, value / maximum))
        parts.append(f'<text x="{label_w - 6}" y="{y + bar * 0.7}" text-anchor="end" font-size="13">{_e(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="#2563eb" rx="3"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar * 0.7}" font-size="13">{value:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_aspects(rows: list[tuple[str, list[float]]], maxima: list[float], *, width: int = 640) -> str:
    """One stacked bar per community: the five aspects' scores side by side, out of 100."""
    bar, label_w = 20, 150
    total_max = sum(maxima) or 1.0
    height = len(rows) * (bar + 6) + 10
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    scale = (width - label_w - 60) / total_max
    for i, (label, scores) in enumerate(rows):
        y, x = 5 + i * (bar + 6), float(label_w)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar * 0.7}" text-anchor="end" font-size="13">{_e(label)}</text>')
        for j, score in enumerate(scores):
            w = max(0.0, score) * scale
            colour = ASPECT_COLOURS[j % len(ASPECT_COLOURS)]
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar * 0.7}" font-size="13">{sum(scores):.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(
    *,
    street: dict[str, Any],
    communities: list[dict[str, Any]],
    rectification: dict[str, list[dict[str, Any]]],
    assessments: list[dict[str, Any]],
    honours: list[dict[str, Any]],
    generated_at: datetime,
) -> str:
    """Every name shown comes from scoring's API: the street's and communities' from the reference
    data, aspects' and indicators' from the indicator file, honours' from the reference data."""
    street_name_zh, street_name_en = street.get("name_zh", ""), street.get("name_en", "")
    names = {
        c["community_id"]: _bilingual(c.get("name_zh", c["community_id"]), c.get("name_en", "")) for c in communities
    }

    def community(community_id: Any) -> str:
        return names.get(community_id) or _e(community_id)

    aspects = street["aspects"]
    legend = "".join(
        f'<span class="key"><i style="background:{ASPECT_COLOURS[i % 5]}"></i>{_bilingual(a["name_zh"], a["name_en"])}</span>'
        for i, a in enumerate(aspects)
    )
    totals_chart = bar_chart(
        [(f"{c.get('name_zh', c['community_id'])} {c.get('name_en', '')}", c["total"]) for c in communities],
        street["max"],
    )
    aspect_chart = stacked_aspects(
        [(f'{c.get("name_zh", c["community_id"])}', [c["aspects_by_id"].get(a["id"], 0.0) for a in aspects])
         for c in communities],
        [a["max"] for a in aspects],
    )  # fmt: skip
    sections = []
    for aspect in aspects:
        rows = []
        for leaf in aspect["indicators"]:
            if leaf["kind"] == "computed":
                value = f"{leaf.get('value', 0):.4g} {_e(leaf.get('unit', ''))}"
                how = (f'{_e(leaf.get("how", ""))}<br><small>numerator {leaf.get("numerator")}, '
                       f'denominator {leaf.get("denominator")}, window {_e(leaf.get("window"))}, '
                       f'target {leaf.get("target")}</small>')  # fmt: skip
            else:
                value = "—" if leaf.get("value") is None else f"{leaf['value']:.4g}"
                evidence = [a for a in assessments if a.get("indicator_id") == leaf["id"]]
                how = (
                    "; ".join(
                        f"{_e(a.get('community_id'))}: {a.get('score')} — {_e(a.get('evidence_text'))}"
                        + (
                            f' <a href="{_e(a["evidence_url"])}">{_e(a["evidence_url"])}</a>'
                            if a.get("evidence_url")
                            else ""
                        )
                        for a in evidence[-5:]
                    )
                    or "尚无佐证 / no evidence recorded yet"
                )
            status = "ok" if leaf["score"] >= leaf.get("pass_line", 0) else "below"
            rows.append(
                f'<tr class="{status}"><td>{_bilingual(leaf["name_zh"], leaf["name_en"])}</td>'
                f"<td>{_e(leaf['kind'])}</td><td>{value}</td><td>{leaf['score']:.2f} / {leaf['max']:g}</td>"
                f"<td>{leaf.get('pass_line', '')}</td><td>{how}</td></tr>"
            )
        sections.append(
            f"<h3>{_bilingual(aspect['name_zh'], aspect['name_en'])} — {aspect['score']:.1f} / {aspect['max']:g}</h3>"
            "<table><tr><th>指标 Indicator</th><th>类型 Kind</th><th>值 Value</th><th>得分 Score</th>"
            "<th>合格线 Pass line</th><th>计算方法与佐证 How computed / evidence</th></tr>" + "".join(rows) + "</table>"
        )
    rect_rows = []
    for community_id, items in rectification.items():
        for item in items:
            rect_rows.append(
                f"<tr><td>{community(community_id)}</td><td>{_e(item['indicator_id'])}</td><td>{_e(item.get('value'))}</td>"
                f"<td>{_e(item.get('gap'))}</td><td>{_bilingual(item.get('action_zh'), item.get('action_en'))}</td></tr>"
            )
    honour_rows = "".join(
        f"<tr><td>{_bilingual(h.get('name_zh', h.get('kind')), h.get('name_en', h.get('kind')))}</td>"
        f"<td>{_e(h.get('state', 'awarded'))}</td><td>{_e(h.get('period'))}</td><td>{_e(h.get('recipient_kind'))} "
        f"{_e(h.get('recipient_id'))}</td><td>{community(h.get('community_id'))}</td></tr>"
        for h in honours[:200]
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{_e(street_name_zh)}学习型街道自评报告 · {_e(street_name_en)} learning-street self-assessment</title>
<style>
 body {{ font-family: "Noto Sans CJK SC", "PingFang SC", system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
        color: #111827; }}
 .en {{ display: block; color: #4b5563; font-size: .9em; }}
 table {{ border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; font-size: 14px; }}
 th, td {{ border: 1px solid #e5e7eb; padding: 4px 8px; vertical-align: top; text-align: left; }}
 tr.below td:nth-child(4) {{ color: #b91c1c; font-weight: 600; }}
 .key {{ margin-right: 1rem; display: inline-block; }} .key i {{ display: inline-block; width: 12px; height: 12px;
        margin-right: 4px; }}
 .total {{ font-size: 2.5rem; font-weight: 700; }}
</style></head><body>
<h1>{_e(street_name_zh)}学习型街道自评报告<span class="en">{_e(street_name_en)}: learning-street self-assessment</span></h1>
<p>生成时间 Generated {_e(generated_at.isoformat(timespec="seconds"))} · 指标体系 Indicator set
 {_e(street.get("indicators_version"))} · 实时学习指数 live learning index</p>
<p class="total">{street["total"]:.1f} <small>/ {street["max"]:g}</small></p>
<h2>各社区总分<span class="en">Community totals</span></h2>{totals_chart}
<h2>各社区五个方面得分<span class="en">Five aspects per community</span></h2><p>{legend}</p>{aspect_chart}
<h2>街道指标明细<span class="en">Street indicators: value, computation, evidence</span></h2>{"".join(sections)}
<h2>整改清单<span class="en">Rectification list (below the pass line)</span></h2>
<table><tr><th>社区 Community</th><th>指标 Indicator</th><th>当前值 Value</th><th>差距 Gap</th><th>整改措施 What closes it</th></tr>
{"".join(rect_rows) or '<tr><td colspan="5">无 / none</td></tr>'}</table>
<h2>评选表彰<span class="en">Honours and their selection state (nominated, in notice 公示, awarded, …)</span></h2>
<table><tr><th>荣誉 Honour</th><th>状态 State</th><th>周期 Period</th><th>获得者 Recipient</th><th>社区 Community</th></tr>
{honour_rows or '<tr><td colspan="5">无 / none</td></tr>'}</table>
</body></html>"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
