-- Residents' contact data and preferences (enrolment.contacts; personal data, notify only).
CREATE TABLE IF NOT EXISTS contacts (
    resident_id        text PRIMARY KEY,
    phone              text,
    email              text,
    language           text NOT NULL DEFAULT 'zh-CN',
    preferred_channel  text NOT NULL DEFAULT 'sms',
    consent            boolean NOT NULL DEFAULT false,
    opted_out          text[] NOT NULL DEFAULT '{}',
    quiet_hours_start  text,
    quiet_hours_end    text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Language from enrolment.residents, used until a contact says otherwise.
CREATE TABLE IF NOT EXISTS residents (
    resident_id  text PRIMARY KEY,
    language     text NOT NULL DEFAULT 'zh-CN',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Our own view of enrolments (from enrolment.enrolments): who to tell when a session changes.
CREATE TABLE IF NOT EXISTS enrolments (
    enrolment_id  text PRIMARY KEY,
    session_id    text NOT NULL,
    course_id     text NOT NULL,
    resident_id   text NOT NULL,
    status        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS enrolments_session ON enrolments (session_id);
CREATE INDEX IF NOT EXISTS enrolments_course ON enrolments (course_id);

-- One row per message a resident is to receive. `idempotency_key` = resident:kind:subject.
CREATE TABLE IF NOT EXISTS notifications (
    notification_id   uuid PRIMARY KEY,
    idempotency_key   text NOT NULL UNIQUE,
    resident_id       text NOT NULL,
    kind              text NOT NULL,
    session_id        text,
    enrolment_id      text,
    params            jsonb NOT NULL DEFAULT '{}',
    session_starts_at timestamptz,
    status            text NOT NULL DEFAULT 'queued',
    status_reason     text,
    channel           text,
    address_hint      text,
    language          text,
    rendered_subject  text,
    rendered_body     text,
    attempts          int NOT NULL DEFAULT 0,
    last_error        text,
    claim_token       uuid,
    due_at            timestamptz NOT NULL,
    contact_deadline  timestamptz NOT NULL,
    triggered_at      timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    deferred_at       timestamptz,
    first_attempt_at  timestamptz,
    last_attempt_at   timestamptz,
    sent_at           timestamptz,
    failed_at         timestamptz,
    cancelled_at      timestamptz,
    provider_id       text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (due_at)
    WHERE status IN ('queued', 'deferred', 'sending');
CREATE INDEX IF NOT EXISTS notifications_resident ON notifications (resident_id, created_at DESC);
CREATE INDEX IF NOT EXISTS notifications_session ON notifications (session_id) WHERE session_id IS NOT NULL;

-- Notifications that failed for good, for operators to list and replay.
CREATE TABLE IF NOT EXISTS dead_letters (
    notification_id  uuid PRIMARY KEY REFERENCES notifications (notification_id),
    reason           text NOT NULL,
    detail           text,
    attempts         int NOT NULL,
    dead_at          timestamptz NOT NULL,
    replayed_at      timestamptz,
    replayed_by      text
);
