-- The distinct-attendee table is written once per attendance: one index (keyed by resident first,
-- which also serves the per-resident reconciliation and honour look-ups) instead of three.
DROP INDEX IF EXISTS attendee_days_day;
DROP INDEX IF EXISTS attendee_days_resident;
ALTER TABLE attendee_days DROP CONSTRAINT IF EXISTS attendee_days_pkey;
ALTER TABLE attendee_days ADD PRIMARY KEY (resident_id, community_id, day);
