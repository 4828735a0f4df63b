"""Honours with several scoring instances: only the index leader evaluates the honour rules, yet the
attendance that earns an honour may be applied by any instance (the one that owns the partition).
Found by `make chaos-ci` on two instances: 79 learning stars never awarded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.scoring.adapters.indicator_file import load_indicator_file
from services.scoring.adapters.offsets import StoredOffsets
from services.scoring.config import DEFAULT_INDICATORS
from services.scoring.service_layer.handlers import apply_attendance
from services.scoring.service_layer.index import IndexEngine
from shared.bus.decoding import Incoming
from shared.db.uow import UnitOfWorkFactory
from shared.reference import load_reference
from tests.integration.scoring.events import attendance
from tests.integration.scoring.private_schema import private_schema
from tests.support import eventually, unique

pytestmark = pytest.mark.integration


def _engine() -> IndexEngine:
    # the follower marks its own engine; nothing marks the leader's: only its idle tick runs
    return IndexEngine(
        load_indicator_file(DEFAULT_INDICATORS), load_reference("reference/pinghu"),
        idle_refresh_s=0.5, honours_interval_s=0.1, min_publish_interval_s=0,
    )  # fmt: skip


async def test_the_leader_awards_honours_earned_through_attendance_another_instance_applied():
    resident = f"{unique('stars')}-r1"
    async with private_schema() as schema:
        pools = [await schema.pool(size=2), await schema.pool(size=2)]
        engines = [_engine(), _engine()]
        conn = await schema.connect()
        try:
            for engine, pool in zip(engines, pools, strict=True):
                await engine.start(pool, UnitOfWorkFactory(pool))
            (leader,) = [e for e in engines if e.leading]
            follower = next(e for e in engines if e is not leader)
            pool = pools[engines.index(follower)]

            async def first_evaluation_done() -> bool:  # the one every start asks for
                return not leader._honours_due

            await eventually(first_evaluation_done, timeout_s=10)
            # 41 hours in one year (over the learning star's 40), applied by the follower's consumer with
            # its offsets, as the dispatcher does
            envelope = attendance(resident, minutes=41 * 60)
            record = SimpleNamespace(topic="activities.attendance", partition=0, offset=0)
            async with UnitOfWorkFactory(pool)() as uow:
                await apply_attendance(uow, [Incoming(envelope.id, envelope.type, envelope.data, record)])
                await StoredOffsets(shared_lock=False).store(uow, {("activities.attendance", 0): 0})
                await uow.commit()
            follower.mark({"activities.attendance"})

            async def star() -> bool:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM honours WHERE kind = 'learning_star' AND recipient_id = $1", resident
                    )
                )

            assert await eventually(star, timeout_s=20)
        finally:
            for engine in engines:
                await engine.stop()
            await conn.close()
