-- Residents' kiosk cards as keyed digests, from enrolment.resident-cards (docs/decisions/0010-erasure.md,
-- amendment 2026-12-07; shared/kiosk_cards.py): a scan of a card is judged, stored and published
-- under the resident id, and no card number is kept here.
CREATE TABLE IF NOT EXISTS resident_cards (
    card_digest text PRIMARY KEY,
    resident_id text NOT NULL UNIQUE
);
