-- The card each resident shows at kiosks, from enrolment.resident-cards (docs/decisions/0010-erasure.md,
-- amendment 2026-12-07): a scan of a card is judged, stored and published under the resident id.
CREATE TABLE IF NOT EXISTS resident_cards (
    card_number text PRIMARY KEY,
    resident_id text NOT NULL UNIQUE
);
