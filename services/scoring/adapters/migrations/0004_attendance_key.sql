-- One attendance per resident per session: keyed by that pair, the key also serves the no-show
-- look-up, so the table needs no second index.
DROP INDEX IF EXISTS attendance_session_resident;
ALTER TABLE attendance DROP CONSTRAINT IF EXISTS attendance_pkey;
ALTER TABLE attendance ADD PRIMARY KEY (session_id, resident_id);
