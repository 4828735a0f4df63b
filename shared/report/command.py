"""`learnstreet report` and `make demo`: fetch, build, render and write the report (and its PDF)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.reference import ROOT, load_reference
from shared.report import chromium, model, render
from shared.report.fetch import Endpoints, ReportError, fetch


@dataclass(frozen=True)
class Written:
    html: Path
    pdf: Path | None
    report: model.Report


def default_path(period: str, community: str | None, lang: str) -> Path:
    return ROOT / ".local" / "reports" / f"self-assessment-{community or 'street'}-{period}-{lang}.html"


def write_report(
    endpoints: Endpoints,
    token: str,
    *,
    period: str,
    community: str | None = None,
    lang: str = "zh-CN",
    pdf: bool = False,
    out: Path | None = None,
    reference_dir: str | None = None,
    step: Callable[[str], None] = lambda _: None,
) -> Written:
    """The report of `community` (None: the street) as HTML at `out`, and with `pdf` a PDF beside it."""
    period, lang = model.parse_period(period), model.parse_language(lang)
    sources = fetch(endpoints, token, period=period, community=community, step=step)
    reference = load_reference(reference_dir) if reference_dir else load_reference()
    report = model.build(sources, lang=lang, honour_name=reference.honour_name, generated_at=datetime.now(UTC))
    path = out or default_path(period, community, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render.render(report), encoding="utf-8")
    printed = None
    if pdf:
        step("chromium print-to-pdf")
        try:
            printed = chromium.print_pdf(path, path.with_suffix(".pdf"))
        except chromium.ChromiumFailed as error:
            raise ReportError(f"the HTML is at {path}, but no PDF: {error}") from error
    return Written(path, printed, report)
