"""The data inventory: which event field and which table column holds what personal information,
and who reads it. `python -m shared.events.inventory [--write]` checks (or, with --write,
regenerates) docs/privacy/data-inventory.md from the event catalogue, shared/events/personal_data.py,
the topic table (readers, retention) and the services' migrations.

The migrations are read as text (shared must not import a service); the parser understands what
our migrations use: CREATE TABLE, ALTER TABLE … ADD/DROP COLUMN, DROP TABLE.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from shared.events import personal_data, topics
from shared.events.personal_data import Category
from shared.events.schemas import CONTRACTS, KIOSK_CHECKIN

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "privacy" / "data-inventory.md"
SHARED_MIGRATIONS = ROOT / "shared" / "db" / "migrations"
READ_MODEL_MIGRATIONS = {"catalogue": ROOT / "shared" / "catalogue" / "migrations"}
REGENERATE = "python -m shared.events.inventory --write"


def topic_of(type_name: str) -> str:
    if type_name == KIOSK_CHECKIN:
        return topics.KIOSK_CHECKINS.name
    return CONTRACTS[type_name].topic  # type: ignore[attr-defined]


def fields_of(type_name: str) -> list[str]:
    return list(CONTRACTS[type_name].model_fields)


def unclassified_fields() -> list[str]:
    """Fields that look personal and are neither classified nor declared not personal."""
    return [
        f"{t}.{f}"
        for t in sorted(CONTRACTS)
        for f in fields_of(t)
        if personal_data.looks_personal(f)
        and personal_data.category_of_field(t, f) is None
        and (t, f) not in personal_data.NOT_PERSONAL
    ]


def stale_entries() -> list[str]:
    """Classifications of event types or fields the catalogue no longer has."""
    stale = []
    named = [(t, f) for t, fs in personal_data.FIELDS.items() for f in fs] + list(personal_data.NOT_PERSONAL)
    for t, f in named:
        if t not in CONTRACTS:
            stale.append(f"{t} (no such event type)")
        elif f not in CONTRACTS[t].model_fields:
            stale.append(f"{t}.{f} (no such field)")
    stale += [f"LINKED {t} (no such event type)" for t in personal_data.LINKED if t not in CONTRACTS]
    return stale


def resident_events_without_linkage() -> list[str]:
    return [t for t in sorted(CONTRACTS) if personal_data.carries_resident(t) and t not in personal_data.LINKED]


# --- migrations ---------------------------------------------------------------------------------

_CREATE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\((.*)\)\s*$", re.I | re.S)
_ALTER = re.compile(r"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(\w+)\s+(.*)$", re.I | re.S)
_ADD = re.compile(r"ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.I)
_DROP_COLUMN = re.compile(r"DROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?\"?(\w+)\"?", re.I)
_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\w\s,]+?)(?:\s+CASCADE)?\s*$", re.I | re.S)
_CONSTRAINTS = {"primary", "unique", "check", "constraint", "foreign", "exclude"}


def _top_level_items(body: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [i.strip() for i in items if i.strip()]


def tables_of(sql_texts: list[str]) -> dict[str, list[str]]:
    """Table → columns after applying the given migration texts in order."""
    tables: dict[str, list[str]] = {}
    for text in sql_texts:
        text = re.sub(r"--[^\n]*", "", text)
        for statement in text.split(";"):
            if m := _CREATE.match(statement):
                columns = []
                for item in _top_level_items(m.group(2)):
                    first = item.split()[0].strip('"')
                    if first.lower() not in _CONSTRAINTS:
                        columns.append(first)
                tables.setdefault(m.group(1).lower(), columns)
            elif m := _ALTER.match(statement):
                columns = tables.setdefault(m.group(1).lower(), [])
                columns += [c for c in _ADD.findall(m.group(2)) if c not in columns]
                for dropped in _DROP_COLUMN.findall(m.group(2)):
                    if dropped in columns:
                        columns.remove(dropped)
            elif m := _DROP_TABLE.match(statement):
                for name in m.group(1).split(","):
                    tables.pop(name.strip().lower(), None)
    return tables


def _sql(directory: Path) -> list[str]:
    return [p.read_text() for p in sorted(directory.glob("*.sql"))]


def service_tables(service: str) -> dict[str, list[str]]:
    """Every table a service's own and the shared migrations create (read models apart)."""
    return tables_of(_sql(SHARED_MIGRATIONS) + _sql(ROOT / "services" / service / "adapters" / "migrations"))


def personal_columns(columns: list[str]) -> dict[str, Category]:
    return {c: personal_data.COLUMNS[c] for c in columns if c in personal_data.COLUMNS}


# A table is about people when one of these is in it; a profile or residence column alone (an
# aggregate per audience group or community) is not.
IDENTIFYING = frozenset(
    {
        Category.RESIDENT_ID,
        Category.CARD_NUMBER,
        Category.CONTACT,
        Category.RELATIONSHIP,
        Category.STAFF_ID,
        Category.MESSAGE,
    }
)


def personal_tables(service: str) -> dict[str, dict[str, Category]]:
    """Tables of `service` holding personal data: an identifying column, or whole event bodies."""
    found = {}
    for table, columns in service_tables(service).items():
        personal = personal_columns(columns)
        if IDENTIFYING & set(personal.values()) or table in personal_data.PAYLOAD_TABLES:
            found[table] = personal
    return found


def resident_tables(service: str) -> list[str]:
    """Tables of `service` with rows about one resident (a resident identifier column)."""
    return sorted(
        t for t, cols in personal_tables(service).items() if any(c is Category.RESIDENT_ID for c in cols.values())
    )


def unclassified_columns() -> list[str]:
    sources = {s: service_tables(s) for s in topics.SERVICES}
    sources |= {f"read model {n}": tables_of(_sql(d)) for n, d in READ_MODEL_MIGRATIONS.items()}
    return sorted(
        {
            f"{source}: {table}.{column}"
            for source, tables in sources.items()
            for table, columns in tables.items()
            for column in columns
            if personal_data.looks_personal(column)
            and column not in personal_data.COLUMNS
            and column not in personal_data.NOT_PERSONAL_COLUMNS
        }
    )


# --- the document ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventField:
    """A personal field of an event, where it travels and what it holds."""

    topic: str
    type_name: str
    field: str
    category: Category


def _retention(spec: topics.TopicSpec) -> str:
    if spec.compacted:
        return "compacted (latest per key, kept)"
    ms = spec.retention_ms
    if ms == topics.FOREVER:
        return "forever"
    if ms < topics.DAY_MS:  # a topic holding live secrets keeps them minutes, which "0 days" would hide
        return f"{ms // topics.MINUTE_MS} minutes"
    return f"{ms // topics.DAY_MS} days"


def _retention_rows() -> list[str]:
    rows = []
    for spec in topics.all_topic_specs():
        if spec.compacted:
            setting = "— (compacted: the latest record per key stays)"
        elif spec.replayed_by:
            setting = (
                f"`{topics.retention_variable(spec.name)}`: at least {topics.CHECKPOINTS_KEPT} checkpoint intervals "
                "of its rebuilds"
            )
        else:
            setting = f"`{topics.retention_variable(spec.name)}`"
        needs = ", ".join(spec.replayed_by) or "—"
        rows.append(f"| `{spec.name}` | {_retention(spec)} | {setting} | {needs} |")
    return rows


def _readers(topic: str) -> str:
    return ", ".join(sorted(topics.TOPICS_BY_NAME[topic].consumers)) or "none (operators only)"


def event_rows() -> list[EventField]:
    """Every personal field of every event, in the catalogue's topic order."""
    rows = [
        EventField(topic_of(t), t, f, c)
        for t in CONTRACTS
        for f, c in sorted(personal_data.FIELDS.get(t, {}).items(), key=lambda fc: fields_of(t).index(fc[0]))
    ]
    order = [spec.name for spec in topics.TOPICS]
    rows.sort(key=lambda r: (order.index(r.topic), r.type_name))
    return rows


def render() -> str:
    rows = event_rows()
    out = [
        "# Data inventory: personal information in learnstreet",
        "",
        f"Generated by `{REGENERATE}` from `shared/events/personal_data.py`, the event catalogue,",
        "`shared/events/topics.py` and the services' migrations. Do not edit by hand;",
        "`tests/unit/shared/test_inventory.py` fails when this file is stale or a field that looks",
        "personal is not classified.",
        "",
        "## Categories",
        "",
        "| category | what |",
        "|---|---|",
        *(f"| `{c}` | {personal_data.DESCRIPTIONS[c]} |" for c in Category),
        "",
        "## Events",
        "",
        "Readers are the services the topic's ACL lets read it; the writer is listed per topic.",
        "Dead-letter topics (`<topic>.dlq`, kept 30 days; a secret topic's no longer than the topic) hold",
        "copies of the records they refused.",
        "",
        "| topic (writers; retention) | event | field | category | readers |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        spec = topics.TOPICS_BY_NAME[r.topic]
        where = f"`{r.topic}` ({', '.join(sorted(spec.producers))}; {_retention(spec)})"
        out.append(f"| {where} | `{r.type_name}` | `{r.field}` | `{r.category}` | {_readers(r.topic)} |")
    out += [
        "",
        "## How long each topic keeps records",
        "",
        "The default retention of every topic (shared/events/topics.py), as the events table shows it.",
        "A street sets another with the variable when provisioning (`7d`, `12h`, `30m`, `forever`);",
        "provisioning accepts a finite retention on a topic a rebuild replays only when it covers three",
        "checkpoint intervals of each such rebuild (a rebuild from its checkpoint needs the records after",
        "it), and the running services report `learnstreet_rebuild_history_complete` (ADR 10).",
        "`kiosk.checkins` is also cut below activities' committed offsets after each erasure; the contacts'",
        "tombstones are kept an hour after compaction.",
        "",
        "| topic | kept by default | setting | replayed from the beginning by |",
        "|---|---|---|---|",
        *_retention_rows(),
        "",
        "Every other field of an event carrying a resident identifier is personal by linkage:",
        "",
        "| event | what it tells about the resident |",
        "|---|---|",
        *(f"| `{t}` | {personal_data.LINKED[t]} |" for t in sorted(personal_data.LINKED)),
        "",
        "Events without personal information: "
        + ", ".join(f"`{t}`" for t in sorted(CONTRACTS) if t not in personal_data.FIELDS)
        + ".",
        "",
        "## Database tables per service",
        "",
        "Each service's database, from its migrations and the shared ones (`shared/db/migrations`).",
        "The shared catalogue read model holds no personal information.",
        "",
        "| service | table | personal columns | also |",
        "|---|---|---|---|",
    ]
    for service in topics.SERVICES:
        for table, columns in sorted(personal_tables(service).items()):
            cols = ", ".join(f"`{c}` ({cat})" for c, cat in columns.items()) or "—"
            out.append(f"| {service} | `{table}` | {cols} | {personal_data.PAYLOAD_TABLES.get(table, '')} |")
    out += [
        "",
        "## Access",
        "",
        "- Every read or change of a resident's data through the HTTP API by an operator, assessor,",
        "  community worker or venue staff is recorded in the service's `access_audit` table",
        "  (`GET /v1/audit?resident_id=` for operators; `shared/http/audit.py`), kept",
        "  `LS_RETENTION_AUDIT_DAYS` (1095 days by default, at least 183) and then pruned (docs/retention.md).",
        "- `GET /v1/residents/{resident_id}/data-export` on each service returns what it holds about",
        "  a resident; `learnstreet privacy export RESIDENT_ID` gathers the four into one file.",
        "- Erasure: docs/decisions/0010-erasure.md.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    problems = [f"unclassified field: {f}" for f in unclassified_fields()]
    problems += [f"stale classification: {s}" for s in stale_entries()]
    problems += [f"unclassified column: {c}" for c in unclassified_columns()]
    problems += [f"no LINKED entry for {t}" for t in resident_events_without_linkage()]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("classify them in shared/events/personal_data.py", file=sys.stderr)
        return 1
    text = render()
    if "--write" in argv:
        DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            DOCUMENT.write_text(text)
            print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
        print(f"{DOCUMENT.relative_to(ROOT)} is stale: run `{REGENERATE}`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
