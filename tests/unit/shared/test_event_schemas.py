"""Every event type keeps to the evolution rule: its committed JSON Schema (shared/events/schemas)
may only gain optional fields within a version. The self-tests run the checker on synthetic
models, so a broken guard cannot pass silently."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, Field

from shared.events import schemas
from shared.events.envelope import EventData

TYPE_NAMES = sorted(schemas.CONTRACTS)
REFRESH = "python -m shared.events.schemas --write"


def test_every_event_type_of_the_catalogue_and_the_kiosk_contract_is_covered():
    from shared.events import catalogue

    assert set(schemas.CONTRACTS) == {c.type_name for c in catalogue.EVENT_TYPES} | {schemas.KIOSK_CHECKIN}


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_each_type_has_a_committed_snapshot(type_name):
    assert schemas.snapshot(type_name) is not None, (
        f"no schema snapshot for {type_name}: run `{REFRESH}` and commit {schemas.path_of(type_name).name}"
    )


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_each_type_changed_only_as_its_version_allows(type_name):
    old = schemas.snapshot(type_name)
    if old is None:
        pytest.fail(f"no schema snapshot for {type_name}: run `{REFRESH}`")
    breaking = schemas.breaking_changes(type_name, old, schemas.schema_of(schemas.CONTRACTS[type_name]))
    assert not breaking, "\n".join(breaking)


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_each_snapshot_is_current(type_name):
    old, new = schemas.snapshot(type_name), schemas.schema_of(schemas.CONTRACTS[type_name])
    if old is None or old == new:
        return
    added = schemas.added_fields(old, new)
    what = f"gained optional fields {', '.join(added)} (allowed)" if added else "changed its documentation"
    pytest.fail(f"{type_name} {what}: refresh its snapshot with `{REFRESH}` and commit it")


def test_no_snapshot_outlives_its_type():
    assert not schemas.orphans(), (
        f"snapshots of types the catalogue no longer has: {schemas.orphans()}; a version is retired only "
        "once no consumer reads it, and then its snapshot is deleted with it"
    )


# --- the checker itself ----------------------------------------------------------------------------


class Thing(EventData):
    """A synthetic .v1 type."""

    type_name: ClassVar[str] = "learnstreet.test.thing.happened.v1"
    topic: ClassVar[str] = "test.things"
    key_field: ClassVar[str] = "thing_id"

    thing_id: str
    count: int
    colour: Literal["red", "blue"] = "red"
    note: str | None = None


class Removed(EventData):
    thing_id: str
    colour: Literal["red", "blue"] = "red"
    note: str | None = None


class Retyped(Thing):
    count: str


class EnumNarrowed(Thing):
    colour: Literal["red"] = "red"


class RequiredAdded(Thing):
    at: datetime


class MadeRequired(Thing):
    note: str


class OptionalAdded(Thing):
    """Prose may change too."""

    at: datetime | None = None
    tags: list[str] = Field(default_factory=list)


def _changes(model: type[BaseModel]) -> list[str]:
    return schemas.breaking_changes(Thing.type_name, schemas.schema_of(Thing), schemas.schema_of(model))


@pytest.mark.parametrize(
    ("model", "change"),
    [
        (Removed, "field 'count' was removed"),
        (Retyped, "field 'count' was retyped"),
        (EnumNarrowed, "field 'colour' was retyped"),
        (RequiredAdded, "field 'at' was added as required"),
        (MadeRequired, "field 'note' became required"),
    ],
)
def test_checker_rejects_what_needs_a_new_version(model, change):
    messages = _changes(model)
    assert any(change in m for m in messages), messages
    assert all("publish learnstreet.test.thing.happened.v2 instead" in m for m in messages)


def test_checker_allows_added_optional_fields_and_names_them():
    assert _changes(OptionalAdded) == []
    assert _changes(Thing) == []
    assert schemas.added_fields(schemas.schema_of(Thing), schemas.schema_of(OptionalAdded)) == ["at", "tags"]


def test_checker_sees_through_references_to_shared_definitions():
    from shared.events import catalogue

    class Narrower(BaseModel):
        group: Literal["child"]

    old = schemas.schema_of(catalogue.ResidentRegistered)  # audience_group is a $ref to AudienceGroup
    new = dict(old, **{"$defs": {"AudienceGroup": schemas.schema_of(Narrower)["properties"]["group"]}})
    assert any("'audience_group' was retyped" in m for m in schemas.breaking_changes("x.v1", old, new))


def test_next_version():
    assert schemas.next_version("learnstreet.a.b.c.v1") == "learnstreet.a.b.c.v2"
    assert schemas.next_version("learnstreet.a.b.c.v9") == "learnstreet.a.b.c.v10"
