"""`selection: automatic` (or SCORING_SELECTION_MODE=automatic): a rule's candidate is awarded in the
same transaction that nominates it, with both events and both steps; `reviewed` only nominates. On a
private copy of scoring's tables in the real database (tests/integration/scoring/private_schema.py),
so the running service's rows and outbox are not touched."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from services.scoring.domain.honours import HonourRules
from services.scoring.domain.selection import SelectionRules
from services.scoring.service_layer.handlers import apply_attendance, evaluate_honours
from shared.bus.decoding import Incoming
from shared.db.uow import UnitOfWorkFactory
from tests.integration.scoring.events import attendance
from tests.integration.scoring.private_schema import private_schema
from tests.support import unique

pytestmark = pytest.mark.integration


async def _learning_star(uow_factory, resident: str) -> None:
    envelope = attendance(resident, minutes=41 * 60)
    record = SimpleNamespace(topic="activities.attendance", partition=0, offset=0)
    async with uow_factory() as uow:
        await apply_attendance(uow, [Incoming(envelope.id, envelope.type, envelope.data, record)])
        await uow.commit()


@pytest.mark.parametrize(
    ("mode", "state", "steps"),
    [("automatic", "awarded", ["nominated", "awarded"]), ("reviewed", "nominated", ["nominated"])],
)
async def test_the_selection_mode_decides_whether_a_rule_awards_or_nominates(mode, state, steps):
    resident = unique("auto")
    async with private_schema() as schema:
        pool = await schema.pool(size=2)
        conn = await schema.connect()
        try:
            uow_factory = UnitOfWorkFactory(pool)
            await _learning_star(uow_factory, resident)
            now = datetime.now(UTC)
            assert await evaluate_honours(uow_factory, HonourRules(), SelectionRules(mode=mode), now) == 1
            assert await evaluate_honours(uow_factory, HonourRules(), SelectionRules(mode=mode), now) == 0
            honour = await conn.fetchrow("SELECT * FROM honours WHERE recipient_id = $1", resident)
            assert honour["state"] == state and honour["kind"] == "learning_star"
            assert (honour["awarded_at"] is not None) == (state == "awarded")
            recorded = await conn.fetch(
                "SELECT step, acted_by, actor_role FROM honour_steps WHERE honour_id = $1 ORDER BY step_id",
                honour["honour_id"],
            )
            assert [(r["step"], r["acted_by"], r["actor_role"]) for r in recorded] == [
                (s, "rules", "system") for s in steps
            ]
            published = await conn.fetch(
                "SELECT headers->>'ce_type' AS type FROM outbox WHERE key = $1 ORDER BY id",
                str(honour["honour_id"]).encode(),
            )
            assert [r["type"].split(".")[-2] for r in published] == steps
        finally:
            await conn.close()
