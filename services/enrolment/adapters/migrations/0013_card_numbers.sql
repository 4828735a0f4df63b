-- The card a resident shows at kiosks, apart from the resident id (docs/decisions/0010-erasure.md,
-- amendment 2026-12-07): a resident registered with a card gets a random id from enrolment, and
-- the card travels only to activities (enrolment.resident-cards), which maps a scan to the id.
ALTER TABLE residents ADD COLUMN IF NOT EXISTS card_number text;
CREATE UNIQUE INDEX IF NOT EXISTS residents_card_number ON residents (card_number) WHERE card_number IS NOT NULL;
