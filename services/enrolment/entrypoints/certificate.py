"""The printable certificate of learning (学习证明) as one self-contained HTML page: inline CSS
for screen and print (A4), no scripts, no external resources; every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

TEXT = {
    "zh-CN": {
        "title": "学习证明",
        "intro": "兹证明居民 {resident}（编号）于 {year} 年度参加社区学习活动，情况如下：",
        "hours": "学习时长",
        "hours_unit": "小时",
        "credits": "学分",
        "sessions": "学习次数",
        "course": "课程",
        "date": "日期",
        "venue": "地点",
        "minutes": "分钟",
        "theme": "主题",
        "honours": "所获荣誉",
        "rule": "学分规则：{version}",
        "code": "验证码",
        "verify": "可通过 GET /v1/certificates/{code} 核验本证明真伪。",
        "issuer": "{street}",
    },
    "en": {
        "title": "Certificate of Learning",
        "intro": "This certifies that resident {resident} (id) took part in community learning in {year}:",
        "hours": "Hours of learning",
        "hours_unit": "hours",
        "credits": "Learning credits",
        "sessions": "Sessions attended",
        "course": "Course",
        "date": "Date",
        "venue": "Venue",
        "minutes": "Minutes",
        "theme": "Theme",
        "honours": "Honours",
        "rule": "Credits rule: {version}",
        "code": "Verification code",
        "verify": "Verify this certificate with GET /v1/certificates/{code}.",
        "issuer": "{street}",
    },
}

_CSS = """
body { font-family: "Noto Serif CJK SC", "Songti SC", SimSun, serif; margin: 0; background: #f4f1ea; color: #222; }
main { max-width: 190mm; margin: 12mm auto; background: #fff; padding: 16mm; border: 3px double #8b1a1a; }
h1 { text-align: center; color: #8b1a1a; letter-spacing: .3em; margin: 0 0 8mm; }
.figures { display: flex; justify-content: space-around; margin: 6mm 0; text-align: center; }
.figures b { display: block; font-size: 1.6em; color: #8b1a1a; }
table { width: 100%; border-collapse: collapse; font-size: .9em; }
th, td { border-bottom: 1px solid #ccc; padding: 1.5mm 2mm; text-align: left; }
td.n { text-align: right; }
footer { margin-top: 8mm; font-size: .85em; }
code { font-size: 1.05em; word-break: break-all; }
.issuer { text-align: right; margin-top: 10mm; font-size: 1.1em; }
@media print { body { background: #fff; } main { margin: 0; border-width: 2px; } @page { size: A4; margin: 10mm; } }
"""


def _name(names: dict[str, str] | None, lang: str, fallback: str) -> str:
    return (names or {}).get(lang) or fallback


def render(data: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    summary = data["summary"]
    rows = "".join(
        f"<tr><td>{escape(a['date'])}</td><td>{escape(_name(a['course'], lang, a['course_id']))}</td>"
        f"<td>{escape(_name(a['venue'], lang, a['venue_id']))}</td><td class=n>{a['minutes']}</td></tr>"
        for a in data["attendance"]
    )
    honours = "".join(f"<li>{escape(h['name'][lang])} ({escape(h['period'])})</li>" for h in data["honours"])
    code = escape(data["code"])
    street = escape(data["street"][lang])
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]} · {escape(data["resident_id"])} · {data["year"]}</title><style>{_CSS}</style></head>
<body><main>
<h1>{t["title"]}</h1>
<p>{t["intro"].format(resident=f"<b>{escape(data['resident_id'])}</b>", year=data["year"])}</p>
<div class="figures">
<div><b>{summary["hours"]}</b>{t["hours"]} ({t["hours_unit"]})</div>
<div><b>{summary["credits"]}</b>{t["credits"]}</div>
<div><b>{summary["attendances"]}</b>{t["sessions"]}</div>
</div>
<table><thead><tr><th>{t["date"]}</th><th>{t["course"]}</th><th>{t["venue"]}</th><th>{t["minutes"]}</th></tr></thead>
<tbody>{rows}</tbody></table>
{f"<h2>{t['honours']}</h2><ul>{honours}</ul>" if honours else ""}
<p class="issuer">{t["issuer"].format(street=street)}</p>
<footer>
<p>{t["code"]}: <code id="code">{code}</code></p>
<p>{escape(t["verify"].format(code=data["code"]))}</p>
<p>{escape(t["rule"].format(version=data["rule_version"]))}</p>
</footer>
</main></body></html>
"""
