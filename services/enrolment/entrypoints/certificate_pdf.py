"""The certificate of learning (学习证明) as a PDF: the same words and figures as the printable page
(certificate.py), A4, with the verification code and a QR code of the address that verifies it.

Chinese text uses Adobe's STSong-Light, one of the standard CJK fonts PDF readers provide, so the
file embeds no font and the service needs no font file (the image ships none)."""

from __future__ import annotations

import functools
import io
from typing import Any
from xml.sax.saxutils import escape

import orjson
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.enrolment.entrypoints.certificate import TEXT, _name

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
RED = colors.HexColor("#8b1a1a")
QR_SIZE = 28 * mm

_STYLES = {
    "title": ParagraphStyle("title", fontName=FONT, fontSize=24, leading=30, alignment=TA_CENTER, textColor=RED),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=11, leading=16),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=9, leading=13),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=9, leading=12),
    "figure": ParagraphStyle("figure", fontName=FONT, fontSize=11, leading=20, alignment=TA_CENTER),
    "issuer": ParagraphStyle("issuer", fontName=FONT, fontSize=13, leading=18, alignment=TA_RIGHT),
}


def _p(text: str, style: str) -> Paragraph:
    return Paragraph(text, _STYLES[style])


def _qr(url: str) -> Drawing:
    # Sized by barWidth/barHeight rather than scaled from getBounds(), which encodes the code a
    # second time: the pure-Python encoder was most of a certificate's cost.
    drawing = Drawing(QR_SIZE, QR_SIZE)
    drawing.add(QrCodeWidget(url, barWidth=QR_SIZE, barHeight=QR_SIZE))
    return drawing


@functools.lru_cache(maxsize=256)
def render_cached(data_json: bytes, lang: str, verify_url: str) -> bytes:
    """`render` of the certificate's data as JSON: a resident fetching the same certificate again
    (or a script fetching it in a loop) costs a dictionary lookup, not another rendering; any
    change to what it certifies is another key. At most 256 files of about 10 kB are kept."""
    return render(orjson.loads(data_json), lang, verify_url)


def render(data: dict[str, Any], lang: str, verify_url: str) -> bytes:
    """`verify_url`: where anyone holding the paper checks it (GET /v1/certificates/{code})."""
    t = TEXT[lang]
    summary = data["summary"]
    story: list[Any] = [_p(t["title"], "title"), Spacer(1, 6 * mm)]
    resident = f"<b>{escape(data['resident_id'])}</b>"
    story.append(_p(t["intro"].format(resident=resident, year=data["year"]), "body"))
    figures = [
        _p(f'<font size="20" color="#8b1a1a">{value}</font><br/>{label}', "figure")
        for value, label in (
            (summary["hours"], f"{t['hours']} ({t['hours_unit']})"),
            (summary["credits"], t["credits"]),
            (summary["attendances"], t["sessions"]),
        )
    ]
    story += [Spacer(1, 4 * mm), Table([figures], colWidths=[56 * mm] * 3), Spacer(1, 4 * mm)]
    rows = [[_p(f"<b>{h}</b>", "cell") for h in (t["date"], t["course"], t["venue"], t["minutes"])]]
    rows += [
        [_p(escape(a["date"]), "cell"), _p(escape(_name(a["course"], lang, a["course_id"])), "cell"),
         _p(escape(_name(a["venue"], lang, a["venue_id"])), "cell"), _p(str(a["minutes"]), "cell")]
        for a in data["attendance"]
    ]  # fmt: skip
    table = LongTable(rows, colWidths=[26 * mm, 74 * mm, 56 * mm, 18 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#cccccc")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, RED),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))  # fmt: skip
    story.append(table)
    if data["honours"]:
        story += [Spacer(1, 5 * mm), _p(f"<b>{t['honours']}</b>", "body")]
        story += [_p(f"• {escape(h['name'][lang])} ({escape(h['period'])})", "body") for h in data["honours"]]
    story += [Spacer(1, 8 * mm), _p(escape(t["issuer"].format(street=data["street"][lang])), "issuer")]
    code = escape(data["code"])
    footer = [
        _p(f"{t['code']}: <b>{code}</b>", "small"),
        _p(escape(t["verify"].format(code=data["code"])), "small"),
        _p(escape(verify_url), "small"),
        _p(escape(t["rule"].format(version=data["rule_version"])), "small"),
    ]
    story += [Spacer(1, 6 * mm), Table([[footer, _qr(verify_url)]], colWidths=[140 * mm, 34 * mm])]
    out = io.BytesIO()
    title = f"{t['title']} · {data['resident_id']} · {data['year']}"
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=title, author=data["street"][lang])  # fmt: skip
    doc.build(story)
    return out.getvalue()
