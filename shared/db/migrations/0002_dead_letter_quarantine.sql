-- Dead letters Kafka refused (DLQ topic missing, ACL, size): kept here instead of stalling the
-- partition, until an operator replays them (`learnstreet dlq quarantine replay <service>`).
-- headers: the dead letter's headers (original + dlq_*) as JSON bytes, not jsonb: a hostile header
-- may hold a NUL character, which jsonb and text refuse. value: the full original body.
CREATE TABLE IF NOT EXISTS dead_letter_quarantine (
    id             bigserial   PRIMARY KEY,
    topic          text        NOT NULL,
    partition      int         NOT NULL,
    "offset"       bigint      NOT NULL,
    reason         text        NOT NULL,
    key            bytea,
    headers        bytea       NOT NULL,
    value          bytea,
    publish_error  text        NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
