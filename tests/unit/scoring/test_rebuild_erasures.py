"""The scoring rebuild's erasures (ADR 10): a replayed resident.erased is collected, not applied at
once, and applied to the shadow tables when the replay is done, with the projection's statements
only. Applied at once it found the live receipt and erased nothing, and the swapped-in tables held
the erased resident's card number again (tests/integration/security/test_erasure.py
::test_a_rebuild_after_the_erasure_gives_the_same_index_and_brings_no_card_back)."""

from __future__ import annotations

import uuid

from services.scoring.adapters import privacy
from services.scoring.adapters.repository import PROJECTION_TABLES
from services.scoring.entrypoints.consumers import HANDLERS, rebuild_dispatcher
from services.scoring.service_layer.handlers import ReplayedErasures, on_resident_erased
from shared.db import erasure
from shared.events.catalogue import ResidentErased


class RecordingConnection:
    """Answers `to_regclass` with "exists" and records every other statement with its arguments."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, tuple]] = []

    async def fetchval(self, query: str, *args):
        return True

    async def execute(self, statement: str, *args) -> str:
        self.executed.append((statement, args))
        return "UPDATE 2"


def test_the_live_consumer_erases_at_once_and_the_replay_collects():
    assert HANDLERS[ResidentErased] is on_resident_erased
    erasures = ReplayedErasures()
    dispatcher = rebuild_dispatcher(lambda: None, erasures=erasures)
    assert dispatcher.by_type[ResidentErased.type_name] == erasures.on_resident_erased


async def test_a_replayed_erasure_is_remembered_without_touching_the_database():
    erasures = ReplayedErasures()
    event = ResidentErased(resident_id="r-000123", request_id=uuid.uuid4())
    await erasures.on_resident_erased(None, event, None)  # no unit of work is used
    await erasures.on_resident_erased(None, event, None)  # a retried batch
    assert erasures.residents == {"r-000123"}


async def test_the_shadow_tables_are_erased_with_the_projection_s_statements_only():
    conn = RecordingConnection()
    rows = await privacy.erase_projected(conn, {"r-000123", "r-000456"})
    tables = {erasure.table_of(statement) for statement, _ in conn.executed}
    assert tables == {erasure.table_of(s) for s in privacy.ERASURE} & set(PROJECTION_TABLES)
    assert "honours" not in tables  # not rebuilt: the live erasure has it
    assert "erasure_receipts" not in str(conn.executed) and "access_audit" not in str(conn.executed)
    per_resident = len(tables)
    assert rows == 2 * 2 * per_resident
    # each resident its own pseudonym, and it is a pseudonym
    aliases = {args[0]: args[1] for _, args in conn.executed if len(args) == 2}
    assert set(aliases) == {"r-000123", "r-000456"}
    assert all(a.startswith(erasure.PREFIX) for a in aliases.values()) and len(set(aliases.values())) == 2
