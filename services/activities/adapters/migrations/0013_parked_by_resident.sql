-- Each batch of arriving scans looks up the parked scans of its residents (they are judged first:
-- services/activities/service_layer/checkins.py apply), so that look-up must not scan the table.
CREATE INDEX IF NOT EXISTS pending_checkins_resident ON pending_checkins(resident_id);
