-- Issue 14 (venue closings live in the catalogue read model: shared/catalogue/migrations/0002).
-- Attendance that arrived after its session's period closed: counted on counted_day (the arrival)
-- instead of session_day; the index notes how many per community (late_counted).
CREATE TABLE IF NOT EXISTS late_attendance (
    session_id        text NOT NULL,
    resident_id       text NOT NULL,
    session_day       date NOT NULL,
    counted_day       date NOT NULL,
    community_id      text,
    home_community_id text,
    PRIMARY KEY (session_id, resident_id)
);

-- A closed period's figures, frozen at its close: one index view per community and the street.
CREATE TABLE IF NOT EXISTS period_snapshots (
    period       text NOT NULL,
    community_id text NOT NULL,
    closed_on    date NOT NULL,
    frozen_at    timestamptz NOT NULL DEFAULT now(),
    view         jsonb NOT NULL,
    PRIMARY KEY (period, community_id)
);
