"""docs/architecture.md names where each rule and contract lives; this keeps it true.

Every `path` : `symbol` pair in the doc's tables must exist (a file that defines that symbol),
and every path the kit table names must exist, so a newcomer's one hop never lands nowhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
ROW_WITH_SYMBOLS = re.compile(r"^\|[^|]+\|\s*`(?P<path>[^`]+\.py)`\s*:\s*(?P<symbols>.+?)\|\s*$", re.M)
PATH_IN_TABLE = re.compile(r"^\|[^|]+\|\s*`(?P<path>(?:shared|services|reference)/[^` ]*)`", re.M)


def _defines(source: str, symbol: str) -> bool:
    name = symbol.split(".")[-1]
    return re.search(rf"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\s*[:=]", source, re.M) is not None


def test_every_named_rule_is_defined_where_the_doc_says():
    rows = list(ROW_WITH_SYMBOLS.finditer(DOC))
    assert len(rows) >= 15, "the rule table of docs/architecture.md is missing"
    missing = []
    for row in rows:
        source = (ROOT / row["path"]).read_text(encoding="utf-8")
        for symbol in re.findall(r"`([A-Za-z_][\w.]*)`", row["symbols"]):
            if not _defines(source, symbol):
                missing.append(f"{row['path']}: {symbol}")
    assert not missing, f"docs/architecture.md names symbols that do not exist: {missing}"


def test_every_path_in_the_kit_table_exists():
    paths = [m["path"].rstrip("/") for m in PATH_IN_TABLE.finditer(DOC)]
    assert len(paths) >= 10
    absent = [p for p in paths if "<" not in p and not (ROOT / p).exists()]
    assert not absent, f"docs/architecture.md names paths that do not exist: {absent}"


def test_the_checker_notices_a_symbol_that_is_not_there():
    assert _defines("def judge(scan):\n    pass\n", "judge")
    assert _defines("class Session:\n    def window_contains(self): ...\n", "Session.window_contains")
    assert not _defines("def judged(scan): ...\n", "judge")
