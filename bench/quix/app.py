"""The scoring step written with Quix Streams, as the peer our scoring service is measured against.

Runs in its own virtual environment (.local/bench/quix-venv, pins in bench/quix/requirements.txt):
quixstreams 3.28.1 requires pydantic < 2.14, the services pin 2.14.3.

Same aggregation as scoring's hot path, with the guarantee asked for: exactly-once processing
(Kafka transactions, changelogged RocksDB state), attendance deduplicated by attendance_id in
Quix state, counted per community × audience group, the counts upserted into PostgreSQL
(schema bench_quix; an upsert of the absolute count, so a replayed checkpoint cannot double it).

    python bench/quix/app.py --group G --state-dir DIR --dsn DSN  (Kafka settings from the environment)
"""

from __future__ import annotations

import argparse
import os

import psycopg
from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.sinks.base import BatchingSink, SinkBatch

RECORDED = "learnstreet.activities.attendance.recorded.v1"
TOPIC = "activities.attendance"


def ce_type(headers) -> str:
    for name, value in headers or ():
        if name == "ce_type":
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class CountsSink(BatchingSink):
    """Upserts the latest count per (community, audience group) of each flushed batch."""

    def __init__(self, dsn: str, table: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.table = table
        self.conn: psycopg.Connection | None = None

    def setup(self) -> None:
        self.conn = psycopg.connect(self.dsn, autocommit=False)

    def write(self, batch: SinkBatch) -> None:
        latest: dict[tuple[str, str], int] = {}
        for item in batch:
            v = item.value
            latest[(v["community_id"], v["audience_group"])] = v["attendances"]
        if not latest:
            return
        rows = [(c, g, n) for (c, g), n in latest.items()]
        with self.conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {self.table} (community_id, audience_group, attendances) VALUES (%s, %s, %s)
                    ON CONFLICT (community_id, audience_group)
                    DO UPDATE SET attendances = GREATEST({self.table}.attendances, EXCLUDED.attendances)""",
                rows,
            )
        self.conn.commit()


def dedup(value: dict, state) -> dict | None:
    # State is scoped by the message key (the resident), and one attendance always has one resident.
    if state.exists(value["attendance_id"]):
        return None
    state.set(value["attendance_id"], 1)
    return value


def count(value: dict, state) -> dict:
    n = state.get("n", 0) + 1
    state.set("n", n)
    return {
        "community_id": value["community_id"],
        "audience_group": value.get("audience_group") or "unknown",
        "attendances": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--table", default="bench_quix.attendance_counts")
    parser.add_argument("--guarantee", default="exactly-once", choices=["exactly-once", "at-least-once"])
    args = parser.parse_args()

    app = Application(
        broker_address=ConnectionConfig(
            bootstrap_servers=os.environ["KAFKA_BOOTSTRAP"],
            security_protocol="sasl_plaintext",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=os.environ["QUIX_KAFKA_USERNAME"],
            sasl_password=os.environ["QUIX_KAFKA_PASSWORD"],
        ),
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee=args.guarantee,
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(TOPIC, key_deserializer="str", value_deserializer="json")
    sdf = app.dataframe(topic)
    sdf = sdf.filter(lambda value, key, timestamp, headers: ce_type(headers) == RECORDED, metadata=True)
    sdf = sdf.apply(dedup, stateful=True).filter(lambda value: value is not None)
    sdf = sdf.group_by(
        lambda value: f"{value['community_id']}|{value.get('audience_group') or 'unknown'}", name="community_group"
    )
    sdf = sdf.apply(count, stateful=True)
    sdf.sink(CountsSink(args.dsn, args.table))
    app.run()


if __name__ == "__main__":
    main()
