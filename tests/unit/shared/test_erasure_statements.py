"""Every table a service exports for a resident (adapters/privacy.py QUERIES, which the inventory
guard holds to every table with a resident column) has an erasure statement (ERASURE): a table
added without one would keep an erased resident's rows."""

from __future__ import annotations

import importlib

import pytest

from shared.db import erasure

SERVICES = ("activities", "enrolment", "scoring", "notify")


@pytest.mark.parametrize("service", SERVICES)
def test_every_exported_table_has_an_erasure_statement(service):
    privacy = importlib.import_module(f"services.{service}.adapters.privacy")
    erased = {erasure.table_of(statement) for statement in privacy.ERASURE}
    assert set(privacy.QUERIES) <= erased, set(privacy.QUERIES) - erased


@pytest.mark.parametrize("service", SERVICES)
def test_erasure_statements_name_the_resident_as_their_first_parameter(service):
    privacy = importlib.import_module(f"services.{service}.adapters.privacy")
    assert all("$1" in statement for statement in privacy.ERASURE)


def test_the_table_of_an_insert_is_its_name_without_the_column_list():
    # an INSERT INTO t(cols) was once taken for a table "t(cols," that does not exist, and skipped
    assert erasure.table_of("INSERT INTO residents(resident_id) SELECT $2") == "residents"
