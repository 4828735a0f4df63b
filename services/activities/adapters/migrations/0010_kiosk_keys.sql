-- Kiosk signing keys and the per-venue migration window for unsigned check-ins (issue 16,
-- contract v2 in docs/kiosk-checkin-contract.md).
-- A kiosk may hold more than one active key while it rotates; a retired key verifies nothing.
-- No foreign key to kiosks: a venue update drops and re-adds kiosk rows, and a key of a kiosk no
-- venue lists any more only ever meets scans that are rejected as unknown_kiosk anyway.
CREATE TABLE IF NOT EXISTS kiosk_keys (
    key_id        text PRIMARY KEY,
    kiosk_id      text NOT NULL,
    public_key    bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    registered_by text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz
);
CREATE INDEX IF NOT EXISTS kiosk_keys_active ON kiosk_keys (kiosk_id) WHERE retired_at IS NULL;

-- Unsigned check-ins arriving at or after accepted_until are refused (bad_signature). No row:
-- the venue's migration has no deadline yet (unsigned accepted from kiosks without a key).
CREATE TABLE IF NOT EXISTS venue_unsigned_checkins (
    venue_id       text PRIMARY KEY REFERENCES venues (venue_id),
    accepted_until timestamptz NOT NULL,
    set_by         text NOT NULL,
    set_at         timestamptz NOT NULL DEFAULT now()
);
