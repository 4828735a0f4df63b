-- Issue 13: outcomes independent of the order of notify's topics, and keys that name the fact.
-- The event time of the latest fact applied to an enrolment: an older one (a replay) is not news.
ALTER TABLE enrolments ADD COLUMN IF NOT EXISTS fact_at timestamptz;

-- Until when a message waits for the catalogue names it shows (course title, venue, session time).
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS catalogue_deadline timestamptz;
-- Every catalogue event wakes the few messages waiting for a name, not a scan of all queued rows.
CREATE INDEX IF NOT EXISTS notifications_awaiting_catalogue ON notifications (due_at)
    WHERE status = 'queued' AND status_reason = 'awaiting_catalogue';

-- How many moves of a session residents were told of: the n-th schedule is part of the identity of
-- its change notices and reminders (A -> B -> A -> B is three changes, not one repeated).
CREATE TABLE IF NOT EXISTS session_schedules (
    session_id  text PRIMARY KEY,
    schedule    int NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Honours revoked: an award replayed after its revocation is not told.
CREATE TABLE IF NOT EXISTS honour_revocations (
    honour_id   text PRIMARY KEY,
    reason      text NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

-- Why a session was cancelled: a seat learnt after the cancellation is told it with the reason.
CREATE TABLE IF NOT EXISTS session_cancellations (
    session_id  text PRIMARY KEY,
    reason      text NOT NULL DEFAULT ''
);
