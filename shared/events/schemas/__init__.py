"""Committed JSON Schemas of every event type, one file per type and version (`<type name>.json`
here), and the check that holds each version to the evolution rule.

The rule (shared/events/envelope.py): within a version a type only gains optional fields. A field
removed or retyped, a field added as required or made required, is a new version (`.v2`) published
next to the old one until every consumer has moved. tests/unit/shared/test_event_schemas.py runs
`breaking_changes` against the snapshots; `python -m shared.events.schemas --write` refreshes them
after an allowed change (without `--write` it only reports what differs).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from shared.events import catalogue

DIRECTORY = Path(__file__).parent

# The public kiosk contract has no type header; its snapshot carries this name.
KIOSK_CHECKIN = "learnstreet.kiosk.checkin.v1"

CONTRACTS: dict[str, type[BaseModel]] = {
    **{cls.type_name: cls for cls in catalogue.EVENT_TYPES},
    KIOSK_CHECKIN: catalogue.KioskCheckin,
}

# Words for people, not part of the contract: a change to them never breaks a consumer.
_PROSE = {"title", "description", "examples"}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of what a consumer accepts (pydantic's validation mode)."""
    return model.model_json_schema()


def path_of(type_name: str) -> Path:
    return DIRECTORY / f"{type_name}.json"


def dumps(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def snapshot(type_name: str) -> dict[str, Any] | None:
    path = path_of(type_name)
    return orjson.loads(path.read_bytes()) if path.exists() else None


def next_version(type_name: str) -> str:
    match = re.search(r"\.v(\d+)$", type_name)
    if match is None:
        return f"{type_name}.v2"
    return f"{type_name[: match.start()]}.v{int(match.group(1)) + 1}"


def _contract(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every `$ref` inlined and the prose left out: what a change is judged on."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _contract(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _contract(v, defs) for k, v in node.items() if k not in _PROSE and k != "$defs"}
    if isinstance(node, list):
        return [_contract(v, defs) for v in node]
    return node


def _fields(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """(field → its type, judged without prose or defaults; required fields; model-level keywords)."""
    defs = schema.get("$defs", {})
    fields = {}
    for name, field in schema.get("properties", {}).items():
        judged = _contract(field, defs)
        judged.pop("default", None)  # producers always write every field: a default never travels
        fields[name] = judged
    model = {k: v for k, v in _contract(schema, defs).items() if k not in {"properties", "required"}}
    return fields, set(schema.get("required", [])), model


def breaking_changes(type_name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` breaks a consumer or producer of `old`, one sentence each, saying to publish
    the next version instead; [] when `new` only adds optional fields (or changes prose)."""
    old_fields, old_required, old_model = _fields(old)
    new_fields, new_required, new_model = _fields(new)
    found = []
    for name, kind in old_fields.items():
        if name not in new_fields:
            found.append(f"field {name!r} was removed")
        elif new_fields[name] != kind:
            found.append(f"field {name!r} was retyped from {_show(kind)} to {_show(new_fields[name])}")
    for name in sorted(new_required - old_required):
        found.append(f"field {name!r} {'became' if name in old_fields else 'was added as'} required")
    if new_model != old_model:
        found.append(f"the type's own schema changed from {_show(old_model)} to {_show(new_model)}")
    advice = f"publish {next_version(type_name)} instead (within a version fields are only added, and optional)"
    return [f"{type_name}: {change}: {advice}" for change in found]


def added_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [name for name in new.get("properties", {}) if name not in old.get("properties", {})]


def _show(judged: Any) -> str:
    return orjson.dumps(judged, option=orjson.OPT_SORT_KEYS).decode()


def write() -> list[Path]:
    """Write the snapshot of every contract; returns the files that changed."""
    changed = []
    for type_name, model in CONTRACTS.items():
        path, text = path_of(type_name), dumps(schema_of(model))
        if not path.exists() or path.read_bytes() != text:
            path.write_bytes(text)
            changed.append(path)
    return changed


def orphans() -> list[str]:
    """Snapshots of types no longer in the catalogue."""
    return sorted(p.stem for p in DIRECTORY.glob("*.json") if p.stem not in CONTRACTS)
