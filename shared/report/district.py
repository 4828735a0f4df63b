"""The district report (`learnstreet report --district`, docs/decisions/0022-district-view.md):
each street's published index side by side and every street's communities, read from a district
instance's `/v1/district/...` with an operator token, as one self-contained HTML page (inline CSS
and SVG, no script, no network), like the street's self-assessment report."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.reference import ROOT
from shared.report.fetch import ReportError, ServiceDown
from shared.report.render import ASPECT_COLOURS

BEIJING = ZoneInfo("Asia/Shanghai")
TEXT = {
    "zh-CN": {"title": "区级学习型街道指数报告（{period}年度）", "generated": "生成时间", "street": "街道",
              "community": "社区", "total": "总分", "communities": "社区数", "computed": "计算时间",
              "streets": "一、各街道指数", "detail": "二、各街道社区指数", "not_yet": "尚未发布",
              "notes": "说明：只读取各街道发布的学习指数（scoring.index），不含原始数据；时间均为北京时间。"},
    "en": {"title": "District learning-street index report, {period}", "generated": "Generated",
           "street": "Street", "community": "Community", "total": "Total", "communities": "Communities",
           "computed": "Computed", "streets": "1. The streets", "detail": "2. Each street's communities",
           "not_yet": "not published yet",
           "notes": "Notes: read only from each street's published learning index (scoring.index), never its raw "
                    "data; every time is Beijing time."},
}  # fmt: skip
CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; color: #111827;
       margin: 0 auto; max-width: 1100px; padding: 24px; font-size: 13px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 2px solid #1f2937; }
h3 { font-size: 14px; margin: 16px 0 6px; } .meta { color: #4b5563; margin: 0 0 4px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #e5e7eb; padding: 3px 6px; }
th { text-align: left; color: #4b5563; font-weight: normal; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
section.street { break-inside: avoid; }
"""


def fetch_district(url: str, token: str, *, step: Callable[[str], None] = lambda _: None,
                   transport: httpx.BaseTransport | None = None) -> dict[str, Any]:  # fmt: skip
    """The district's overview and each street's drill-down, from the district instance at `url`."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                      transport=transport) as http:  # fmt: skip

        def get(path: str) -> Any:
            step(f"scoring {path}")
            try:
                r = http.get(path)
            except httpx.TransportError as error:
                raise ServiceDown("scoring (district)", url, error) from error
            if r.status_code in (401, 403):
                raise ReportError(f"the district refused the token on {path} (HTTP {r.status_code}): an operator "
                                  "or assessor token is needed")  # fmt: skip
            if r.status_code != 200:
                raise ReportError(
                    f"the district answered HTTP {r.status_code} on {path}: {' '.join(r.text[:200].split())}"
                )
            return r.json()

        overview = get("/v1/district/index")
        if not overview.get("streets"):
            raise ReportError(
                f"no street in the district at {url}: start a scoring instance with SCORING_DISTRICT_STREETS"
            )
        details = {s["street"]: get(f"/v1/district/streets/{s['street']}") for s in overview["streets"]}
    return {"overview": overview, "details": details}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def _when(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if iso else "–"


def _computed(street: dict[str, Any], t: dict[str, str]) -> str:
    return t["not_yet"] if street["total"] is None else _when(street["computed_at"])


def _bars(rows: list[tuple[str, float | None]], top: float) -> str:
    height = 24 * len(rows) + 6
    parts = [f'<svg width="100%" viewBox="0 0 760 {height}" role="img">']
    for i, (label, value) in enumerate(rows):
        y = 4 + 24 * i
        width = 0 if value is None else max(0.0, min(1.0, value / (top or 100))) * 520
        colour = ASPECT_COLOURS[i % len(ASPECT_COLOURS)]
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(label[:24])}</text>'
                     f'<rect x="170" y="{y}" width="520" height="16" fill="#eef1f5"/>'
                     f'<rect x="170" y="{y}" width="{width:.1f}" height="16" fill="{colour}"/>'
                     f'<text x="700" y="{y + 13}" font-size="12">{_num(value)}</text>')  # fmt: skip
    return "".join(parts) + "</svg>"


def render(data: dict[str, Any], *, period: str, lang: str, generated_at: datetime) -> str:
    t = TEXT[lang]
    en = lang == "en"
    overview = data["overview"]
    aspects = overview.get("aspects", [])

    def name(o: dict[str, Any]) -> str:
        return (o.get("name_en") if en else o.get("name_zh")) or o.get("community_id") or o.get("street") or ""

    def aspect_heads() -> str:
        return "".join(f"<th>{_e(a['name_en'] if en else a['name_zh'])}</th>" for a in aspects)

    def aspect_cells(item: dict[str, Any]) -> str:
        return "".join(f'<td class="n">{_num(item["aspects"].get(a["id"]))}</td>' for a in aspects)

    rows = "".join(
        f'<tr><td>{_e(name(s))}</td><td class="n">{_num(s["total"])}</td>{aspect_cells(s)}'
        f'<td class="n">{s["communities"]}</td><td>{_computed(s, t)}</td></tr>'
        for s in overview["streets"]
    )
    body = [
        f"<h1>{_e(t['title'].format(period=period))}</h1>",
        f'<p class="meta">{t["generated"]}: {generated_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")}</p>',
        f"<h2>{t['streets']}</h2>",
        _bars([(name(s), s["total"]) for s in overview["streets"]], overview.get("max", 100)),
        f"<table><thead><tr><th>{t['street']}</th><th>{t['total']}</th>{aspect_heads()}<th>{t['communities']}</th>"
        f"<th>{t['computed']}</th></tr></thead><tbody>{rows}</tbody></table>",
        f"<h2>{t['detail']}</h2>",
    ]
    for street in overview["streets"]:
        detail = data["details"].get(street["street"], {"communities": []})
        lines = "".join(
            f'<tr><td>{_e(name(c))}</td><td class="n">{_num(c["total"])}</td>{aspect_cells(c)}</tr>'
            for c in detail["communities"]
        )
        body.append(
            f'<section class="street"><h3>{_e(name(street))} · {t["total"]} {_num(street["total"])}</h3>'
            f"<table><thead><tr><th>{t['community']}</th><th>{t['total']}</th>{aspect_heads()}</tr></thead>"
            f"<tbody>{lines}</tbody></table></section>"
        )
    body.append(f'<p class="meta">{t["notes"]}</p>')
    title = _e(t["title"].format(period=period))
    head = f'<head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>'
    return f'<!doctype html><html lang="{lang}">{head}<body>{"".join(body)}</body></html>'


def default_path(period: str, lang: str) -> Path:
    return ROOT / ".local" / "reports" / f"district-{period}-{lang}.html"


def write_district_report(url: str, token: str, *, period: str, lang: str = "zh-CN", out: Path | None = None,
                          step: Callable[[str], None] = lambda _: None) -> Path:  # fmt: skip
    data = fetch_district(url, token, step=step)
    path = out or default_path(period, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, period=period, lang=lang, generated_at=datetime.now(UTC)), encoding="utf-8")
    return path
