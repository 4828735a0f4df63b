-- Venues (learning positions) and the kiosks installed at each; a kiosk belongs to one venue.
CREATE TABLE IF NOT EXISTS venues (
    venue_id     text PRIMARY KEY,
    community_id text NOT NULL,
    name_zh      text NOT NULL,
    name_en      text NOT NULL,
    venue_type   text NOT NULL,
    capacity     int  NOT NULL CHECK (capacity > 0),
    kiosk_ids    text[] NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS kiosks (
    kiosk_id text PRIMARY KEY,
    venue_id text NOT NULL REFERENCES venues(venue_id)
);

CREATE TABLE IF NOT EXISTS providers (
    provider_id text PRIMARY KEY,
    kind        text NOT NULL,
    name_zh     text NOT NULL,
    name_en     text NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id   text PRIMARY KEY,
    course_id    text NOT NULL REFERENCES courses(course_id),
    venue_id     text NOT NULL REFERENCES venues(venue_id),
    community_id text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    capacity     int NOT NULL CHECK (capacity > 0),
    elderly_priority_until timestamptz,
    cancelled    boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS sessions_course ON sessions(course_id);

-- What activities knows of residents and of seats (from enrolment's events).
CREATE TABLE IF NOT EXISTS residents (
    resident_id    text PRIMARY KEY,
    community_id   text NOT NULL,
    audience_group text NOT NULL,
    volunteer      boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- One row per enrolment; 'cancelled' is terminal, so a late or repeated confirmation cannot revive it.
CREATE TABLE IF NOT EXISTS enrolment_seats (
    enrolment_id text PRIMARY KEY,
    session_id   text NOT NULL,
    resident_id  text NOT NULL,
    state        text NOT NULL CHECK (state IN ('confirmed', 'cancelled'))
);
CREATE INDEX IF NOT EXISTS enrolment_seats_session ON enrolment_seats(session_id) WHERE state = 'confirmed';

-- Every check-in seen once (kiosk retries reuse checkin_id), with what became of it.
CREATE TABLE IF NOT EXISTS checkins (
    checkin_id  uuid PRIMARY KEY,
    kiosk_id    text NOT NULL,
    venue_id    text NOT NULL,
    resident_id text NOT NULL,
    session_id  text,
    scanned_at  timestamptz NOT NULL,
    direction   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text,
    reason      text
);

-- Exactly one attendance per resident per session, whatever arrives.
CREATE TABLE IF NOT EXISTS attendance (
    attendance_id uuid PRIMARY KEY,
    resident_id   text NOT NULL,
    session_id    text NOT NULL,
    course_id     text NOT NULL,
    venue_id      text NOT NULL,
    checkin_id    uuid NOT NULL,
    first_in_at   timestamptz,
    last_out_at   timestamptz,
    minutes       int NOT NULL,
    walk_in       boolean NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resident_id, session_id)
);
CREATE INDEX IF NOT EXISTS attendance_walk_ins ON attendance(session_id) WHERE walk_in;

-- Check-ins whose resident or session is not known yet: re-evaluated until the grace period ends.
CREATE TABLE IF NOT EXISTS pending_checkins (
    checkin_id  uuid PRIMARY KEY,
    payload     jsonb NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL,
    resident_id text NOT NULL,
    venue_id    text NOT NULL
);

-- Residents order the menu: one vote per resident per theme per community.
CREATE TABLE IF NOT EXISTS need_votes (
    vote_id      text PRIMARY KEY,
    resident_id  text NOT NULL,
    community_id text NOT NULL,
    theme        text NOT NULL,
    topic_text   text NOT NULL DEFAULT '',
    voted_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resident_id, community_id, theme)
);
CREATE INDEX IF NOT EXISTS need_votes_community ON need_votes(community_id, theme);
