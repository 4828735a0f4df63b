-- The catalogue read model: venues, courses and sessions as learnt from activities.catalogue
-- (activities owns them), kept by enrolment, scoring and notify; shared/catalogue/projection.py
-- writes it. A service adds columns of its own to these rows in its own later migrations.
--
-- Each service once created its own copy of these tables under the same names. On such a
-- database this migration keeps every row and brings the table to the common shape: it adds the
-- columns that copy lacked and relaxes what a placeholder row (a session or course learnt from a
-- cancellation before its creation) needs.

CREATE TABLE IF NOT EXISTS courses (
    course_id     text PRIMARY KEY,
    title_zh      text NOT NULL,
    title_en      text NOT NULL,
    theme         text NOT NULL,
    audiences     text[] NOT NULL DEFAULT '{}',
    provider_id   text,
    provider_kind text,
    community_id  text,
    cancelled     boolean NOT NULL DEFAULT false,
    cancel_reason text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE courses
    ADD COLUMN IF NOT EXISTS provider_id text,
    ADD COLUMN IF NOT EXISTS provider_kind text,
    ADD COLUMN IF NOT EXISTS community_id text,
    ADD COLUMN IF NOT EXISTS cancel_reason text NOT NULL DEFAULT '';

-- community_id, venue_type and capacity are null only on rows learnt before this model (notify's
-- copy kept the names only) until the venue's next VenueRegistered.
CREATE TABLE IF NOT EXISTS venues (
    venue_id     text PRIMARY KEY,
    name_zh      text NOT NULL DEFAULT '',
    name_en      text NOT NULL DEFAULT '',
    community_id text,
    venue_type   text,
    capacity     int,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE venues
    ADD COLUMN IF NOT EXISTS name_zh text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS name_en text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS community_id text,
    ADD COLUMN IF NOT EXISTS venue_type text,
    ADD COLUMN IF NOT EXISTS capacity int,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE venues
    ALTER COLUMN name_zh SET DEFAULT '',
    ALTER COLUMN name_en SET DEFAULT '',
    ALTER COLUMN community_id DROP NOT NULL,
    ALTER COLUMN venue_type DROP NOT NULL,
    ALTER COLUMN capacity DROP NOT NULL;

-- `scheduled` is false for a placeholder: a session learnt from its cancellation, or from an
-- enrolment carrying its start, before its SessionScheduled arrived.
CREATE TABLE IF NOT EXISTS sessions (
    session_id             text PRIMARY KEY,
    course_id              text NOT NULL,
    venue_id               text,
    community_id           text,
    starts_at              timestamptz,
    ends_at                timestamptz,
    capacity               int NOT NULL DEFAULT 0,
    elderly_priority_until timestamptz,
    scheduled              boolean NOT NULL DEFAULT true,
    cancelled              boolean NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS community_id text,
    ADD COLUMN IF NOT EXISTS capacity int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS elderly_priority_until timestamptz,
    ADD COLUMN IF NOT EXISTS scheduled boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE sessions
    ALTER COLUMN venue_id DROP NOT NULL,
    ALTER COLUMN community_id DROP NOT NULL,
    ALTER COLUMN starts_at DROP NOT NULL,
    ALTER COLUMN ends_at DROP NOT NULL,
    ALTER COLUMN capacity SET DEFAULT 0;
-- Copies without the flag: a row without an end was a placeholder.
UPDATE sessions SET scheduled = false WHERE ends_at IS NULL AND scheduled;
CREATE INDEX IF NOT EXISTS sessions_course ON sessions (course_id);
