-- Per consumer group and partition: the offset the group had committed in Kafka when the retention
-- task last read it (every record below it was applied or dead-lettered). Never moves back, even
-- when an operator resets the group or its offsets expire: the dispatcher skips records below it,
-- so state pruned below it cannot be applied a second time (shared/db/retention.py).
CREATE TABLE IF NOT EXISTS consumer_marks (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    "partition" int         NOT NULL,
    next_offset bigint      NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, "partition")
);

-- Per consumer group: when the log ends of its partitions were last read (pending_at, with the
-- ends) and the time before which every row a record of the group wrote is below the marks
-- (safe_before: set to pending_at once every mark reached the ends read then).
CREATE TABLE IF NOT EXISTS retention_sweeps (
    group_id     text PRIMARY KEY,
    pending_at   timestamptz,
    pending_ends jsonb,
    safe_before  timestamptz
);

-- Pruning reads the inbox by age; the inbox is written in time order, so a BRIN index is enough
-- and costs the writers next to nothing.
CREATE INDEX IF NOT EXISTS inbox_received_brin ON inbox USING brin (received_at);
