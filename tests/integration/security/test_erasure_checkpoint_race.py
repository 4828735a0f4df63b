"""An erasure and a checkpoint of scoring's projection at the same time (ADR 10, amendment
2026-12-06): the checkpoint is a copy of the tables with residents' rows, so the erasure must reach
the copy that survives. The protocol: a checkpoint holds CHECKPOINT_LOCK exclusively from before its
snapshot to its commit; an erasure holds it shared in its transaction and erases the checkpoint
schema there. Either order then ends with a copy without the resident:

- a checkpoint being copied: the erasure waits for it, then erases the new copy;
- an erasure in progress: the checkpoint waits for it to commit, and its snapshot lacks the resident.

Both are raced here against the running scoring and its real `checkpoint` command, the copy's or
the erasure's side played by a connection that holds the lock the way they do."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import pytest

from services.scoring.adapters.repository import CHECKPOINT_LOCK, CHECKPOINT_SCHEMA
from tests.support import ROOT, client, env, eventually, rebuild, unique

pytestmark = pytest.mark.integration


async def _scoring_rows_of(rid: str, schema: str) -> int:
    conn = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS t FROM information_schema.tables"
            " WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
            schema,
        )
        return sum([await conn.fetchval(f"SELECT count(*) FROM {t} x WHERE strpos(x::text, $1) > 0", rid)
                    for (t,) in tables])  # fmt: skip
    finally:
        await conn.close()


async def _registered_and_known_to_scoring() -> str:
    rid = unique("race-r")
    async with client("enrolment", "operator", "race-desk") as enr:
        r = await enr.post("/v1/residents", json={"resident_id": rid, "community_id": "xinnan",
                                                  "audience_group": "adult"})  # fmt: skip
        assert r.status_code == 201, r.text
    async with client("scoring", "resident", rid) as me:

        async def known():
            r = await me.get(f"/v1/residents/{rid}/data-export")
            return (r.status_code == 200 and r.json()["tables"].get("residents")) or None

        await eventually(known, timeout_s=150, every_s=1)
    return rid


async def _erase(rid: str) -> str:
    async with client("enrolment", "operator", "race-desk") as enr:
        r = await enr.post(f"/v1/residents/{rid}/erasure", json={"reason": "race test", "approved_by": "race-dpo"})
        assert r.status_code == 201, r.text
        return r.json()["request_id"]


async def _scoring_done(request_id: str) -> bool:
    async with client("enrolment", "operator", "race-desk") as enr:
        r = await enr.get(f"/v1/erasures/{request_id}")
        assert r.status_code == 200, r.text
        return "scoring" in r.json()["services"]


async def test_an_erasure_waits_for_a_checkpoint_being_copied_then_erases_the_new_copy():
    rid = await _registered_and_known_to_scoring()
    assert "CHECKPOINT rows=" in await rebuild("services.scoring", "checkpoint")
    assert await _scoring_rows_of(rid, CHECKPOINT_SCHEMA) > 0
    copying = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    try:
        await copying.execute("SELECT pg_advisory_lock($1)", CHECKPOINT_LOCK)  # a copy under way
        request_id = await _erase(rid)
        await asyncio.sleep(8)
        assert not await _scoring_done(request_id), "scoring erased while a checkpoint was being copied"
        assert await _scoring_rows_of(rid, CHECKPOINT_SCHEMA) > 0  # nothing half-done meanwhile
    finally:
        await copying.execute("SELECT pg_advisory_unlock($1)", CHECKPOINT_LOCK)
        await copying.close()
    await eventually(lambda: _scoring_done(request_id), timeout_s=60, every_s=0.5)
    assert await _scoring_rows_of(rid, CHECKPOINT_SCHEMA) == 0
    assert await _scoring_rows_of(rid, "public") == 0


async def test_a_checkpoint_waits_for_an_erasure_in_progress_and_its_copy_lacks_the_resident():
    rid = await _registered_and_known_to_scoring()
    erasing = await asyncpg.connect(env()["SCORING_DATABASE_URL"])
    transaction = erasing.transaction()
    await transaction.start()
    try:
        await erasing.execute("SELECT pg_advisory_xact_lock_shared($1)", CHECKPOINT_LOCK)  # an erasure under way
        checkpoint = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.scoring", "checkpoint", cwd=ROOT, env={**env()},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        with pytest.raises(TimeoutError):  # it waits for the erasure's transaction
            await asyncio.wait_for(asyncio.shield(checkpoint.wait()), 8)
        # what scoring's erasure does to its registry row, in its transaction, before it commits
        await erasing.execute(
            "UPDATE residents SET resident_id = 'erased:' || md5(random()::text) WHERE resident_id = $1", rid
        )
    finally:
        await transaction.commit()
        await erasing.close()
    out, _ = await asyncio.wait_for(checkpoint.communicate(), 300)
    assert checkpoint.returncode == 0, out.decode()
    assert "CHECKPOINT rows=" in out.decode()
    assert await _scoring_rows_of(rid, CHECKPOINT_SCHEMA) == 0  # the copy was taken after the commit
    # the real erasure, so that every service (and a later rebuild) agrees with what was done here
    request_id = await _erase(rid)
    await eventually(lambda: _scoring_done(request_id), timeout_s=60, every_s=0.5)
