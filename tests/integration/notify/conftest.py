"""Fixtures shared by notify's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.integration.notify.helpers import notify_pool


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    """A connection pool to notify's own database (the running stack's)."""
    p = await notify_pool()
    yield p
    await p.close()
