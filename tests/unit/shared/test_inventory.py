"""The data inventory (docs/privacy/data-inventory.md) is generated and current; every event field
and table column that looks personal is classified (shared/events/personal_data.py); every table
with rows about a resident is in its service's data export; every route that names a resident
records who accessed it. The self-tests feed the guards synthetic input, so a broken guard cannot
pass silently."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import ClassVar

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shared.events import inventory, personal_data, schemas, topics
from shared.events.envelope import EventData
from shared.http import audit
from shared.http.audit import audit_access
from shared.http.auth import ResidentOrOperator, mint_token

SERVICES = topics.SERVICES


def test_every_personal_looking_event_field_is_classified():
    assert not inventory.unclassified_fields(), (
        f"classify in shared/events/personal_data.py (FIELDS or NOT_PERSONAL): {inventory.unclassified_fields()}"
    )


def test_no_classification_outlives_its_field():
    assert not inventory.stale_entries(), inventory.stale_entries()


def test_every_event_with_a_resident_says_what_it_tells_about_them():
    assert not inventory.resident_events_without_linkage(), inventory.resident_events_without_linkage()


def test_every_personal_looking_column_of_every_migration_is_classified():
    found = inventory.unclassified_columns()
    assert not found, f"classify in shared/events/personal_data.py (COLUMNS or NOT_PERSONAL_COLUMNS): {found}"


def test_the_inventory_document_is_current():
    text = inventory.render()
    current = inventory.DOCUMENT.read_text() if inventory.DOCUMENT.exists() else None
    assert current == text, f"{inventory.DOCUMENT.name} is stale: run `{inventory.REGENERATE}` and commit it"


def test_the_inventory_lists_contact_data_on_the_contacts_topic_and_its_only_reader():
    row = next(line for line in inventory.render().splitlines() if ".contact_changed.v1` | `phone`" in line)
    assert "`enrolment.contacts`" in row and row.endswith("| `contact` | notify |")


@pytest.mark.parametrize("service", SERVICES)
def test_every_table_with_rows_about_a_resident_is_in_the_service_export(service):
    queries = importlib.import_module(f"services.{service}.adapters.privacy").QUERIES
    # access_audit is exported as the access log of every service (shared/http/audit.py)
    missing = set(inventory.resident_tables(service)) - set(queries) - {"access_audit"}
    assert not missing, f"add these tables to services/{service}/adapters/privacy.py QUERIES: {sorted(missing)}"
    assert "access_audit" in inventory.resident_tables(service)


def _names_a_resident(route: APIRoute) -> bool:
    return "{resident_id}" in route.path or any(p.name == "resident_id" for p in route.dependant.query_params)


def _audited(route: APIRoute) -> bool:
    def walk(dependant) -> bool:
        return any(d.call is audit_access or walk(d) for d in dependant.dependencies)

    return walk(route.dependant)


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_naming_a_resident_records_the_access(service):
    router = importlib.import_module(f"services.{service}.entrypoints.http").router
    routes = [r for r in router.routes if isinstance(r, APIRoute) and _names_a_resident(r)]
    paths = {r.path for r in routes}
    assert "/v1/residents/{resident_id}/data-export" in paths and "/v1/audit" in paths
    unaudited = sorted(f"{sorted(r.methods)} {r.path}" for r in routes if not _audited(r))
    assert not unaudited, f"add `_audit: Audited` (shared/http/audit.py) to: {unaudited}"


def test_the_check_in_hot_path_is_not_audited():
    router = importlib.import_module("services.activities.entrypoints.http").router
    checkin = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/v1/checkins")
    assert not _audited(checkin)


# --- the guards themselves ---------------------------------------------------------------------------


class Leaky(EventData):
    type_name: ClassVar[str] = "learnstreet.test.leaky.happened.v1"
    topic: ClassVar[str] = "test.leaky"
    key_field: ClassVar[str] = "thing_id"

    thing_id: str
    resident_card: str
    mobile_phone: str | None = None
    family_id: str | None = None
    colour: str = "red"


def test_the_field_guard_sees_an_unclassified_personal_field(monkeypatch):
    monkeypatch.setitem(schemas.CONTRACTS, Leaky.type_name, Leaky)
    found = inventory.unclassified_fields()
    assert {f"{Leaky.type_name}.{f}" for f in ("resident_card", "mobile_phone", "family_id")} <= set(found)
    assert f"{Leaky.type_name}.colour" not in found and f"{Leaky.type_name}.thing_id" not in found
    monkeypatch.setitem(personal_data.FIELDS, Leaky.type_name, {"resident_card": personal_data.Category.RESIDENT_ID})
    assert f"{Leaky.type_name}.resident_card" not in inventory.unclassified_fields()


def test_the_stale_guard_sees_a_classification_of_a_removed_field(monkeypatch):
    monkeypatch.setitem(personal_data.FIELDS, "learnstreet.activities.need.voted.v1", {"nickname": "free_text"})
    assert "learnstreet.activities.need.voted.v1.nickname (no such field)" in inventory.stale_entries()


def test_the_migration_reader_follows_create_alter_and_drop():
    tables = inventory.tables_of(
        [
            "-- a comment; with a semicolon\nCREATE TABLE IF NOT EXISTS people (\n  id text PRIMARY KEY,\n"
            "  phone text, CHECK (length(phone) > 3),\n  UNIQUE (id, phone)\n);\n"
            "CREATE TABLE gone (resident_id text);",
            "ALTER TABLE people ADD COLUMN IF NOT EXISTS email text, ADD COLUMN card_no text;\n"
            "ALTER TABLE people DROP COLUMN IF EXISTS phone;\nDROP TABLE gone;",
        ]
    )
    assert tables == {"people": ["id", "email", "card_no"]}


def test_the_column_guard_sees_an_unclassified_personal_column(monkeypatch):
    monkeypatch.setattr(
        inventory, "service_tables", lambda s: {"people": ["id", "mobile_phone", "recipient_kind", "theme"]}
    )
    monkeypatch.setattr(inventory, "READ_MODEL_MIGRATIONS", {})
    assert inventory.unclassified_columns() == [f"{s}: people.mobile_phone" for s in sorted(SERVICES)]


def test_the_document_check_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "data-inventory.md"
    stale.write_text("old\n")
    monkeypatch.setattr(inventory, "DOCUMENT", stale)
    monkeypatch.setattr(inventory, "ROOT", tmp_path)
    assert inventory.main([]) == 1
    assert "stale" in capsys.readouterr().out
    assert inventory.main(["--write"]) == 0 and stale.read_text() == inventory.render()
    assert inventory.main([]) == 0


# --- the audit dependency fails closed -----------------------------------------------------------------

_probe, served = APIRouter(), []


@_probe.get("/residents/{resident_id}")
async def _read(resident_id: str, user: ResidentOrOperator, _audit: audit.Audited) -> dict:
    served.append(resident_id)
    return {}


def test_an_access_that_cannot_be_recorded_is_refused_and_counted():
    class DownPool:
        def acquire(self):
            raise OSError("database unreachable")

    served.clear()
    app = FastAPI()
    app.include_router(_probe)
    app.state.jwt_secret = "s" * 8 + "unit-test-secret-0123456789abcdef"
    app.state.runtime = SimpleNamespace(pool=DownPool())
    http = TestClient(app)

    def bearer(role: str, subject: str) -> dict:
        return {"Authorization": f"Bearer {mint_token(app.state.jwt_secret, subject=subject, role=role)}"}

    failures = audit.AUDIT_FAILURES._value.get()
    r = http.get("/residents/r-1", headers=bearer("operator", "op"))
    assert r.status_code == 503 and served == []
    assert audit.AUDIT_FAILURES._value.get() == failures + 1
    # a resident reading their own data needs no audit row, so the outage does not stop them
    assert http.get("/residents/r-1", headers=bearer("resident", "r-1")).status_code == 200 and served == ["r-1"]
