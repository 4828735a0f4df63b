-- Keyed hashes (HMAC-SHA256, the key outside the database) of erased cards
-- (docs/decisions/0010-erasure.md, amendment): an attendance for one arriving after the erasure
-- (in flight, redelivered) is not written into the passport again.
CREATE TABLE IF NOT EXISTS erased_cards (
    card_hash  bytea       PRIMARY KEY,
    request_id uuid        NOT NULL,
    erased_at  timestamptz NOT NULL DEFAULT now()
);
