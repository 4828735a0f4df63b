-- The learning passport's read model (services/enrolment/domain/passport.py), built from
-- activities.attendance and scoring.honours by the passport consumer and rebuildable from them
-- (`python -m services.enrolment rebuild-passports`). Credits are not stored: they follow from
-- these rows and the street's credits file when a passport is read.
CREATE TABLE IF NOT EXISTS passport_attendance (
    attendance_id     text PRIMARY KEY,
    resident_id       text NOT NULL,
    session_id        text NOT NULL,
    course_id         text NOT NULL,
    venue_id          text NOT NULL,
    community_id      text NOT NULL,
    theme             text,
    minutes           int NOT NULL,
    scanned_at        timestamptz NOT NULL,
    session_starts_at timestamptz
);
CREATE INDEX IF NOT EXISTS passport_attendance_resident ON passport_attendance (resident_id);

-- kind = '' while only the revocation is known. resident_ids: whose passports show the honour.
CREATE TABLE IF NOT EXISTS passport_honours (
    honour_id      text PRIMARY KEY,
    kind           text NOT NULL,
    period         text NOT NULL,
    recipient_kind text NOT NULL,
    recipient_id   text NOT NULL,
    resident_ids   text[] NOT NULL,
    community_id   text,
    reason         text NOT NULL,
    awarded_at     timestamptz,
    revoked        boolean NOT NULL DEFAULT false,
    revoke_reason  text NOT NULL DEFAULT '',
    revoked_at     timestamptz
);
CREATE INDEX IF NOT EXISTS passport_honours_residents ON passport_honours USING gin (resident_ids);

-- Per topic and partition, the offset of the last record applied, stored in the batch's
-- transaction (shared/bus/dispatch.py OffsetStore): exactly once, and the rebuild's hand-over.
CREATE TABLE IF NOT EXISTS passport_offsets (
    topic       text NOT NULL,
    "partition" int NOT NULL,
    last_offset bigint NOT NULL,
    PRIMARY KEY (topic, "partition")
);
