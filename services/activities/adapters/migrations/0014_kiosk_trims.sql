-- An erasure's scans leave kiosk.checkins (services/activities/adapters/kiosk_trim.py): per erasure
-- request, the topic's end offsets seen once it committed (what the kiosks had sent by then) and
-- when the group's committed offsets had passed them and what lay below was deleted.
CREATE TABLE IF NOT EXISTS kiosk_trims (
    request_id uuid PRIMARY KEY,
    requested_at timestamptz NOT NULL DEFAULT now(),
    kiosk_ends jsonb,
    trimmed_at timestamptz,
    trimmed_to jsonb
);
CREATE INDEX IF NOT EXISTS kiosk_trims_pending ON kiosk_trims(requested_at) WHERE trimmed_at IS NULL;
