"""Unit tests leave the process environment as they found it.

The chaos run (tests marked `stack_faults`) runs after them and starts services from this
process's environment, which wins over the credentials file: in this stop's CI, a unit test's
leaked SCORING_DATABASE_URL (user "s") made the chaos run's restarted scoring fail to start."""

from __future__ import annotations

import os

import pytest

PYTEST_OWN = "PYTEST_CURRENT_TEST"  # pytest names the running phase here


@pytest.fixture(autouse=True)
def environment_left_as_found(request: pytest.FixtureRequest):
    before = {k: v for k, v in os.environ.items() if k != PYTEST_OWN}
    yield
    after = {k: v for k, v in os.environ.items() if k != PYTEST_OWN}
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        for key in set(after) - set(before):
            del os.environ[key]
        os.environ.update(before)
        pytest.fail(f"{request.node.nodeid} left the environment changed ({', '.join(changed)}): use monkeypatch")
