-- Scoring's projections of other services' events ("rebuildable": `python -m services.scoring rebuild`
-- recreates them in a shadow schema from the topics and swaps them in), plus its own records
-- (assessments, honours, competition results, index history), which a rebuild never touches.

-- The catalogue's tables (courses, venues, sessions) come from shared/catalogue; the index reads
-- held sessions per community and period.
CREATE INDEX IF NOT EXISTS sessions_community_starts ON sessions (community_id, starts_at);

CREATE TABLE IF NOT EXISTS residents (
    resident_id    text PRIMARY KEY,
    community_id   text NOT NULL,
    audience_group text NOT NULL,
    family_id      text,
    employer_id    text,
    volunteer      boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS residents_community ON residents (community_id);

CREATE TABLE IF NOT EXISTS enrolments (
    enrolment_id text PRIMARY KEY,
    session_id   text NOT NULL,
    resident_id  text NOT NULL,
    community_id text,
    status       text NOT NULL,  -- confirmed, waitlisted, cancelled
    at           timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_session ON enrolments (session_id);

CREATE TABLE IF NOT EXISTS need_votes (
    vote_id      text PRIMARY KEY,
    community_id text NOT NULL,
    theme        text NOT NULL,
    voted_at     timestamptz NOT NULL
);

-- One row per attendance (resident × session): needed because adjustments carry a new total.
CREATE TABLE IF NOT EXISTS attendance (
    attendance_id     text PRIMARY KEY,
    resident_id       text NOT NULL,
    session_id        text NOT NULL,
    course_id         text,
    community_id      text,
    home_community_id text,
    audience_group    text,
    day               date,
    minutes           int  NOT NULL,
    recorded          boolean NOT NULL,
    adjusted_at       timestamptz,
    adjusted_by       text
);
CREATE INDEX IF NOT EXISTS attendance_session_resident ON attendance (session_id, resident_id);

-- Counters per community × day × course (theme, provider come from `courses` at read time, so a
-- course learnt after its attendance still counts correctly).
CREATE TABLE IF NOT EXISTS attendance_daily (
    community_id text NOT NULL,
    day          date NOT NULL,
    course_id    text NOT NULL,
    attendances  bigint NOT NULL,
    minutes      bigint NOT NULL,
    PRIMARY KEY (community_id, day, course_id)
);

-- Distinct attendees: one row per (home community, resident, day).
CREATE TABLE IF NOT EXISTS attendee_days (
    community_id   text NOT NULL,
    resident_id    text NOT NULL,
    day            date NOT NULL,
    audience_group text,
    PRIMARY KEY (community_id, resident_id, day)
);
CREATE INDEX IF NOT EXISTS attendee_days_day ON attendee_days (day);
CREATE INDEX IF NOT EXISTS attendee_days_resident ON attendee_days (resident_id);

CREATE TABLE IF NOT EXISTS resident_minutes (
    resident_id text NOT NULL,
    period      text NOT NULL,
    minutes     bigint NOT NULL,
    PRIMARY KEY (resident_id, period)
);

-- Position per partition, written in the same transaction as the effects: a batch redelivered
-- after a crash between the database commit and the Kafka offset commit is skipped.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    topic      text NOT NULL,
    partition  int  NOT NULL,
    "offset"   bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Scoring's own records (never rebuilt).
CREATE TABLE IF NOT EXISTS assessments (
    assessment_id text PRIMARY KEY,
    indicator_id  text NOT NULL,
    community_id  text NOT NULL,
    score         double precision NOT NULL,
    evidence_text text NOT NULL,
    evidence_url  text,
    assessor      text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS assessments_latest ON assessments (community_id, indicator_id, recorded_at DESC);

CREATE TABLE IF NOT EXISTS honours (
    honour_id      uuid PRIMARY KEY,
    kind           text NOT NULL,
    period         text NOT NULL,
    recipient_kind text NOT NULL,
    recipient_id   text NOT NULL,
    resident_ids   text[] NOT NULL DEFAULT '{}',
    community_id   text,
    reason         text NOT NULL DEFAULT '',
    awarded_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoke_reason  text,
    UNIQUE (kind, period, recipient_id)
);

CREATE TABLE IF NOT EXISTS index_history (
    community_id text NOT NULL,
    day          date NOT NULL,
    total        double precision NOT NULL,
    aspects      jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, day)
);
