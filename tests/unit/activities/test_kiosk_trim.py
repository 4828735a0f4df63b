"""After an erasure, activities cuts kiosk.checkins below its group's committed offsets
(services/activities/adapters/kiosk_trim.py): only once every scan sent before the erasure has been
consumed, every partition, and only what was consumed."""

from __future__ import annotations

import json
import uuid

from services.activities.adapters.kiosk_trim import KioskTrim, cut, decode, encode, reached

TOPIC = "kiosk.checkins"


def tp(p: int) -> tuple[str, int]:
    return (TOPIC, p)


def test_a_request_is_done_only_when_every_partition_is_consumed_past_its_end_at_the_erasure():
    ends = {tp(0): 10, tp(1): 0, tp(2): 7}
    assert reached(ends, {tp(0): 10, tp(2): 9})  # partition 1 was empty: nothing to wait for
    assert not reached(ends, {tp(0): 10, tp(2): 6})  # a scan of partition 2 not yet consumed
    assert not reached(ends, {tp(0): 10})  # nothing committed on partition 2 yet


def test_the_cut_is_at_the_committed_offsets_and_never_on_a_partition_with_nothing_consumed():
    assert cut({tp(0): 12, tp(1): 0, tp(2): 3}) == {tp(0): 12, tp(2): 3}


def test_offsets_survive_the_database_as_json():
    offsets = {tp(0): 5, tp(5): 17}
    assert decode(TOPIC, encode(offsets)) == offsets  # the pool's jsonb codec hands back a dict
    assert decode(TOPIC, json.dumps(encode(offsets))) == offsets  # a connection without it, text


class FakeConn:
    """The three statements KioskTrim runs, on a dict of rows."""

    def __init__(self, rows: dict) -> None:
        self.rows = rows

    async def fetch(self, sql: str, *args):
        return [{"request_id": k, **v} for k, v in self.rows.items() if v["trimmed_at"] is None]

    async def execute(self, sql: str, ids, offsets):
        for request_id in ids:
            row = self.rows[request_id]
            if "SET kiosk_ends" in sql and row["kiosk_ends"] is None:
                row["kiosk_ends"] = offsets
            elif "SET trimmed_at" in sql and row["trimmed_at"] is None:
                row["trimmed_at"], row["trimmed_to"] = "now", offsets


class FakePool:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn

    def acquire(self):
        conn = self.conn

        class Acquired:
            async def __aenter__(self):
                return conn

            async def __aexit__(self, *exc):
                return False

        return Acquired()


async def test_the_cut_waits_for_the_scans_sent_before_the_erasure_then_the_request_is_done():
    request = uuid.uuid4()
    rows = {request: {"kiosk_ends": None, "trimmed_at": None, "trimmed_to": None}}
    kafka = {"ends": {tp(0): 10, tp(1): 4}, "committed": {tp(0): 8, tp(1): 4}}
    cuts: list[dict] = []

    async def offsets(group, wanted):
        assert (group, wanted) == ("learnstreet.activities", [TOPIC])
        return dict(kafka["ends"]), dict(kafka["committed"])

    async def delete(before):
        cuts.append(dict(before))

    trim = KioskTrim(lambda: FakePool(FakeConn(rows)), topic=TOPIC, group_id="learnstreet.activities",
                     offsets=offsets, delete=delete)  # fmt: skip
    assert await trim.tick() == []  # two scans of partition 0 not yet consumed
    assert cuts == [{tp(0): 8, tp(1): 4}]  # what was consumed goes already
    assert decode(TOPIC, rows[request]["kiosk_ends"]) == {tp(0): 10, tp(1): 4}

    kafka["ends"], kafka["committed"] = {tp(0): 15, tp(1): 6}, {tp(0): 12, tp(1): 5}  # newer scans came
    assert await trim.tick() == [request]  # the ends at the erasure are passed: done
    assert cuts[-1] == {tp(0): 12, tp(1): 5}
    assert rows[request]["trimmed_at"] == "now" and decode(TOPIC, rows[request]["trimmed_to"]) == cuts[-1]

    assert await trim.tick() == [] and len(cuts) == 2  # nothing pending: nothing read, nothing cut
