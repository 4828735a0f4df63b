-- Keyed hashes (HMAC-SHA256, the key outside the database) of erased cards
-- (docs/decisions/0010-erasure.md, amendment 2026-12-06): a kiosk scan of one after the erasure is
-- refused at once with the card masked, instead of being parked under the card number and
-- rejected as unknown_resident in an event on activities.attendance, kept forever.
CREATE TABLE IF NOT EXISTS erased_cards (
    card_hash  bytea       PRIMARY KEY,
    request_id uuid        NOT NULL,
    erased_at  timestamptz NOT NULL DEFAULT now()
);
