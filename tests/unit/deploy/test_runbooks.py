"""Every alert links to its runbook: a file under docs/ and an anchor that exists in it, as a
Markdown renderer (GitHub, GitLab, mkdocs) derives anchors from headings."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.unit.ops.tooling import ROOT, alert_rules

DOCS = ROOT / "docs"


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped (letters of any script kept),
    spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors of the headings outside code blocks (a repeated heading gets -1, -2, …), and
    explicit `<a id="…">` / `<a name="…">`."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    out |= set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", markdown))
    return out


def resolve(url: str, root: Path = ROOT) -> str | None:
    """Why `url` does not lead to a runbook section in docs/ (None when it does)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return f"{url}: not a path in this repository"
    path = (root / unquote(parts.path)).resolve()
    if not path.is_relative_to((root / "docs").resolve()):
        return f"{url}: not under docs/"
    if not path.is_file():
        return f"{url}: no such file"
    if not parts.fragment:
        return f"{url}: no anchor"
    if unquote(parts.fragment) not in anchors(path.read_text()):
        return f"{url}: no heading or anchor #{parts.fragment} in {path.relative_to(root)}"
    return None


def test_slugs_follow_github() -> None:
    assert slug("Check") == "check"
    assert slug("LearnstreetServiceDown / 服务无法访问") == "learnstreetservicedown--服务无法访问"
    assert slug("What to do (first 5 minutes)") == "what-to-do-first-5-minutes"
    assert anchors("# A\n## Check\n```\n# not a heading\n```\n## Check\n") == {"a", "check", "check-1"}


def test_a_broken_link_is_reported(tmp_path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n## Check\n")
    assert resolve("docs/page.md#check", tmp_path) is None
    assert "no heading" in resolve("docs/page.md#fix", tmp_path)
    assert "no anchor" in resolve("docs/page.md", tmp_path)
    assert "no such file" in resolve("docs/other.md#check", tmp_path)
    assert "not under docs/" in resolve("docs/../README.md#x", tmp_path)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_links_to_a_section_of_its_runbook(rule: dict) -> None:
    url = rule["annotations"].get("runbook_url")
    assert url, f"{rule['alert']} has no runbook_url"
    assert resolve(url) is None, resolve(url)
    # the page is the alert's own, so the link from one alert never lands in another's runbook
    assert urlsplit(url).path == f"docs/runbooks/{rule['alert']}.md"
