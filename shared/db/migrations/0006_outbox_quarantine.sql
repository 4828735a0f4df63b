-- Outbox rows Kafka can never take (headers that are not an object of strings, a bad topic name, a
-- record over the size limit) move here with the reason instead of failing every relay batch and
-- holding back every event behind them (docs/runbooks/LearnstreetOutboxQuarantined.md).
-- headers: the row's headers as written (jsonb text), so an operator can see and mend them.
CREATE TABLE IF NOT EXISTS outbox_quarantine (
    id             bigserial   PRIMARY KEY,
    outbox_id      bigint      NOT NULL,
    event_id       uuid        NOT NULL UNIQUE,
    topic          text        NOT NULL,
    key            bytea,
    headers        text        NOT NULL,
    payload        bytea,
    reason         text        NOT NULL,
    error          text        NOT NULL,
    created_at     timestamptz NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
