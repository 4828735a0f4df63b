-- Transactional outbox: a service writes its state change and the events it implies in one
-- transaction; the relay publishes rows in id order and deletes them once Kafka acknowledged.
CREATE TABLE IF NOT EXISTS outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    key         bytea,
    headers     jsonb       NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Inbox: the ids of events already applied, written in the same transaction as their effect,
-- so a redelivered event is recognised and skipped.
CREATE TABLE IF NOT EXISTS inbox (
    event_id    uuid        PRIMARY KEY,
    event_type  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
