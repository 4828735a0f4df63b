"""Tests that inject faults into the shared stack run after all the others (CI stop 23: a chaos
run early in the suite left the stack broken for the tests after it)."""

from __future__ import annotations

import pytest

from tests.conftest import pytest_collection_modifyitems


class Item:
    def __init__(self, name: str, *markers: str) -> None:
        self.name, self.markers = name, set(markers)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def test_stack_faults_run_last_and_the_rest_keep_their_order():
    items = [Item("a"), Item("chaos1", "stack_faults"), Item("b", "integration"), Item("chaos2", "stack_faults")]
    items.append(Item("c"))
    pytest_collection_modifyitems(None, items)
    assert [i.name for i in items] == ["a", "b", "c", "chaos1", "chaos2"]


def test_the_chaos_run_is_marked():
    from tests.integration.chaos import test_chaos_small

    assert any(m.name == "stack_faults" for m in test_chaos_small.pytestmark)


def test_the_marker_is_registered(pytestconfig: pytest.Config):
    assert any(line.startswith("stack_faults:") for line in pytestconfig.getini("markers"))
