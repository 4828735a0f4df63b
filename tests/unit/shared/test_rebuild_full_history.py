"""A rebuild replays its topics from the beginning and needs every record since offset 0: when
retention (or DeleteRecords) has removed the start of a partition, the rebuilt tables would lack
those records, and scoring's rebuild would swap the smaller index in. shared/rebuild.py refuses
before it creates the shadow tables, naming the topic and the rebuild (ADR 0010 decision 5)."""

from __future__ import annotations

import pytest
from aiokafka.structs import TopicPartition

from shared import rebuild
from shared.rebuild import HistoryMissing, Projection, Rebuild, check_full_history


def test_full_history_passes():
    check_full_history("scoring", {TopicPartition("activities.attendance", p): 0 for p in range(6)})


def test_a_partition_starting_above_zero_is_refused_in_one_line():
    starts = {TopicPartition("activities.attendance", 0): 0, TopicPartition("activities.attendance", 3): 1200}
    starts[TopicPartition("enrolment.residents", 1)] = 7
    with pytest.raises(HistoryMissing) as refused:
        check_full_history("scoring", starts)
    message = str(refused.value)
    assert "\n" not in message
    assert "the scoring rebuild needs the full history" in message
    assert "activities.attendance partition 3 starts at offset 1200" in message
    assert "and 1 more partition" in message
    assert "nothing was replayed or swapped" in message


class _Conn:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def fetchval(self, sql, *args):
        return True  # the rebuild's guard lock

    async def execute(self, sql, *args):
        self.log.append(sql)


class _Acquire:
    def __init__(self, conn: _Conn) -> None:
        self.conn = conn

    def __await__(self):
        async def get():
            return self.conn

        return get().__await__()

    async def __aenter__(self):
        return self.conn

    async def __aexit__(self, *exc):
        return False


class _Pool:
    def __init__(self, log: list[str]) -> None:
        self.conn = _Conn(log)

    def acquire(self):
        return _Acquire(self.conn)

    async def release(self, conn): ...

    async def close(self): ...


class _Consumer:
    """A topic whose partition 1 lost its first 40 records to retention."""

    def __init__(self, **kwargs) -> None: ...

    async def start(self): ...

    async def stop(self): ...

    def assign(self, partitions): ...

    async def seek_to_beginning(self, *partitions): ...

    async def beginning_offsets(self, partitions):
        return {tp: (40 if tp.partition == 1 else 0) for tp in partitions}


async def test_the_rebuild_refuses_before_creating_shadow_tables(monkeypatch):
    sql: list[str] = []

    async def pool(*args, **kwargs):
        return _Pool(sql)

    monkeypatch.setattr(rebuild, "create_pool", pool)
    monkeypatch.setattr(rebuild.asyncpg, "create_pool", pool)
    monkeypatch.setattr(rebuild, "AIOKafkaConsumer", _Consumer)
    projection = Projection(
        name="scoring", topics=["activities.needs"], tables=["t"], lock=1, rebuild_lock=2,
        stored_offsets=None, dispatcher=None, check=None, compare=None, swap_when_different=True,
    )  # fmt: skip
    with pytest.raises(HistoryMissing, match=r"activities\.needs partition 1 starts at offset 40"):
        await Rebuild(projection).run(dsn="postgresql://x", kafka_kwargs={}, swap=True, batch_size=100)
    assert not [s for s in sql if "CREATE" in s], sql


# --- from a checkpoint (ADR 0010, amendment 2026-12-06) -------------------------------------------


def test_a_rebuild_from_a_checkpoint_needs_only_the_records_after_it():
    tp0, tp1 = TopicPartition("activities.attendance", 0), TopicPartition("activities.attendance", 1)
    # retention removed the records the checkpoint already covers: nothing is missing
    rebuild.check_history_since("scoring", {tp0: 500, tp1: 0}, {tp0: 800, tp1: 0})
    rebuild.check_history_since("scoring", {tp0: 800}, {tp0: 800})  # exactly the first one needed


def test_records_deleted_after_the_checkpoint_are_refused_in_one_line():
    tp0, tp1 = TopicPartition("activities.attendance", 0), TopicPartition("enrolment.residents", 2)
    with pytest.raises(HistoryMissing) as refused:
        rebuild.check_history_since("scoring", {tp0: 801, tp1: 10}, {tp0: 800, tp1: 11})
    message = str(refused.value)
    assert "\n" not in message
    assert "activities.attendance partition 0 from offset 800, but it starts at offset 801" in message
    assert "take checkpoints more often than the topics' retention" in message


def test_the_checkpoint_schema_is_named_after_the_projection():
    assert rebuild.checkpoint_schema("scoring") == "scoring_checkpoint"
