-- A venue's latest closing (issue 14): closed from closed_on, open again from reopened_on.
-- One row per venue; a closing after a reopening replaces it (the events keep the history).
CREATE TABLE IF NOT EXISTS venue_closings (
    venue_id    text PRIMARY KEY REFERENCES venues (venue_id),
    closed_on   date NOT NULL,
    reopened_on date,
    reason      text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (reopened_on IS NULL OR reopened_on > closed_on)
);
