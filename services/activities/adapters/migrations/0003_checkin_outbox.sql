-- Transactional outbox of the check-in path: ONE row per check-in batch holding all the events
-- the batch implies, written in the batch's transaction. The shared `outbox` costs a row, two
-- index entries and a jsonb parse per event, then a relay read and a delete per event; at tens of
-- thousands of check-ins per second that was the largest cost of the path. The consumer
-- publishes a batch's events from memory right after its commit and deletes the row; rows left
-- behind (crash, Kafka down) are published by the sweep of any instance.
CREATE TABLE IF NOT EXISTS checkin_outbox (
    id         bigserial PRIMARY KEY,
    events     bytea       NOT NULL,
    n_events   int         NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Already compact JSON: compressing it would only cost CPU in the server on the hot path.
ALTER TABLE checkin_outbox ALTER COLUMN events SET STORAGE EXTERNAL;
