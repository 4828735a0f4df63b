-- Walk-in seats taken per session, counted in the database: every instance's check-in batch locks
-- the rows of its sessions (FOR UPDATE, in session order) and reads `taken` from them, so two
-- instances can never both hand out the last seat (per-process counts did: issue 12).
CREATE TABLE IF NOT EXISTS walk_in_counts (
    session_id text PRIMARY KEY,
    taken      int  NOT NULL DEFAULT 0 CHECK (taken >= 0)
);
INSERT INTO walk_in_counts(session_id, taken)
SELECT s.session_id, count(a.attendance_id)
FROM sessions s LEFT JOIN attendance a ON a.session_id = s.session_id AND a.walk_in
GROUP BY s.session_id
ON CONFLICT (session_id) DO UPDATE SET taken = excluded.taken;
