CREATE TABLE IF NOT EXISTS courses (
    course_id     text PRIMARY KEY,
    title_zh      text NOT NULL,
    title_en      text NOT NULL,
    theme         text NOT NULL,
    audiences     text[] NOT NULL DEFAULT '{}',
    provider_id   text,
    provider_kind text,
    brand         text,
    community_id  text,
    cancelled     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
