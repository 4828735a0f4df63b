-- The Date header of an e-mail is the first attempt's time, so a resend is byte-identical.
-- (0002 has the column too; this covers databases where an early 0002 ran without it.)
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS first_attempt_at timestamptz;
