-- Residents: registered by operators; the contact columns never leave this service except to
-- notify through enrolment.contacts.
CREATE TABLE IF NOT EXISTS residents (
    resident_id          text PRIMARY KEY,
    community_id         text NOT NULL,
    audience_group       text NOT NULL,
    family_id            text,
    employer_id          text,
    volunteer            boolean NOT NULL DEFAULT false,
    phone                text,
    email                text,
    language             text NOT NULL DEFAULT 'zh-CN',
    preferred_channel    text NOT NULL DEFAULT 'sms',
    consent              boolean NOT NULL DEFAULT false,
    opted_out_categories text[] NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Enrolment's state on the catalogue's session rows (shared/catalogue): the counts and the
-- sequence are kept on the row so that an enrolment needs one locked read and one write; every
-- enrolment, cancellation and promotion of a session runs under SELECT ... FOR UPDATE of this
-- row, which also holds the schedule the rules are checked against.
ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS cancel_reason   text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS confirmed_count int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS waitlist_count  int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS next_seq        bigint NOT NULL DEFAULT 0;

-- seq: arrival order within the session (the order in which requests obtained the row lock).
CREATE TABLE IF NOT EXISTS enrolments (
    enrolment_id  text PRIMARY KEY,
    session_id    text NOT NULL REFERENCES sessions (session_id),
    resident_id   text NOT NULL REFERENCES residents (resident_id),
    status        text NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    seq           bigint NOT NULL,
    was_confirmed boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    promoted_at   timestamptz,
    cancelled_at  timestamptz,
    cancel_reason text NOT NULL DEFAULT '',
    UNIQUE (session_id, seq)
);
-- No double enrolment: one live enrolment per resident and session (re-enrolling after a
-- cancellation is allowed).
CREATE UNIQUE INDEX IF NOT EXISTS enrolments_live_once
    ON enrolments (session_id, resident_id) WHERE status <> 'cancelled';
CREATE INDEX IF NOT EXISTS enrolments_waitlist ON enrolments (session_id, seq) WHERE status = 'waitlisted';
CREATE INDEX IF NOT EXISTS enrolments_resident ON enrolments (resident_id, created_at);
